// One civetweb server, the way vigild runs both of its (/metrics and the
// Alertmanager webhook): listening on "host:port" (an IPv6 host in
// brackets), two threads, 10 s per request, civetweb's own messages (bad
// request lines, timeouts) kept out of stderr, and every path given to one
// handler, which runs on civetweb's threads. Stopping it (the destructor)
// joins those threads, so a handler never outlives what it uses when the
// owner stops it first.
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "daemon/ports/error.h"

struct mg_context;
struct mg_connection;

namespace vigil::exporters {

class HttpServer {
  public:
    using Handler = int (*)(mg_connection* conn, void* user);

    // `what` names the server in the error ("webhook: serving on ...").
    [[nodiscard]] static std::expected<std::unique_ptr<HttpServer>, Error> start(
        const std::string& what, const std::string& listen, bool keep_alive, Handler handler,
        void* user);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

  private:
    HttpServer() = default;
    mg_context* ctx_ = nullptr;
};

}  // namespace vigil::exporters
