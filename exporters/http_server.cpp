#include "exporters/http_server.h"

#include <civetweb.h>

namespace vigil::exporters {

std::expected<std::unique_ptr<HttpServer>, Error> HttpServer::start(const std::string& what,
                                                                    const std::string& listen,
                                                                    bool keep_alive,
                                                                    Handler handler, void* user) {
    std::unique_ptr<HttpServer> self(new HttpServer());
    const char* civet_options[] = {"listening_ports",
                                   listen.c_str(),
                                   "num_threads",
                                   "2",
                                   "request_timeout_ms",
                                   "10000",
                                   "enable_keep_alive",
                                   keep_alive ? "yes" : "no",
                                   nullptr};
    mg_callbacks callbacks{};
    callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
    char error_text[256] = {};
    mg_init_data init{};
    init.callbacks = &callbacks;
    init.user_data = user;
    init.configuration_options = civet_options;
    mg_error_data error{};
    error.text = error_text;
    error.text_buffer_size = sizeof error_text;
    self->ctx_ = mg_start2(&init, &error);
    if (self->ctx_ == nullptr) {
        return std::unexpected(Error{what + ": serving on " + listen + ": " +
                                     (error_text[0] != '\0' ? error_text : "civetweb failed")});
    }
    // "**" matches every path, so that wrong ones are answered (and counted) too.
    mg_set_request_handler(self->ctx_, "**", handler, user);
    return self;
}

HttpServer::~HttpServer() {
    if (ctx_ != nullptr) mg_stop(ctx_);  // joins civetweb's threads
}

}  // namespace vigil::exporters
