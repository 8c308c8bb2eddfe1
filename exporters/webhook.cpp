#include "exporters/webhook.h"

#include <civetweb.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <strings.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace vigil::exporters {

std::string_view name(WebhookResult result) {
    switch (result) {
        case WebhookResult::kAccepted:
            return "accepted";
        case WebhookResult::kBadRequest:
            return "bad-request";
        case WebhookResult::kUnauthorized:
            return "unauthorized";
        case WebhookResult::kNotFound:
            return "not-found";
        case WebhookResult::kMethodNotAllowed:
            return "method-not-allowed";
        case WebhookResult::kTooLarge:
            return "too-large";
        case WebhookResult::kUnsupportedType:
            return "unsupported-media-type";
        case WebhookResult::kBusy:
            return "busy";
    }
    return "unknown";
}

int http_status(WebhookResult result) {
    switch (result) {
        case WebhookResult::kAccepted:
            return 200;
        case WebhookResult::kBadRequest:
            return 400;
        case WebhookResult::kUnauthorized:
            return 401;
        case WebhookResult::kNotFound:
            return 404;
        case WebhookResult::kMethodNotAllowed:
            return 405;
        case WebhookResult::kTooLarge:
            return 413;
        case WebhookResult::kUnsupportedType:
            return 415;
        case WebhookResult::kBusy:
            return 503;
    }
    return 500;
}

namespace {

constexpr std::size_t kMaxNotes = 1024;
constexpr std::size_t kMinTokenLength = 16;

const char* reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Content Too Large";
        case 415:
            return "Unsupported Media Type";
        case 503:
            return "Service Unavailable";
        default:
            return "Error";
    }
}

// Compares without an early exit, so the time taken says nothing about how
// much of a guessed token was right.
bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff = static_cast<unsigned char>(diff | (x ^ y));
    }
    return diff == 0;
}

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

int on_request(mg_connection* conn, void* self) {
    return static_cast<WebhookReceiver*>(self)->handle(conn);
}

}  // namespace

std::expected<std::string, Error> read_token_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return std::unexpected(Error::from_errno("webhook token " + path.string(), errno));
    struct stat st {};
    std::string token;
    std::string problem;
    if (::fstat(fd, &st) != 0) {
        problem = "cannot stat it";
    } else if (!S_ISREG(st.st_mode)) {
        problem = "not a regular file";
    } else if (st.st_uid != ::geteuid()) {
        problem = "owned by uid " + std::to_string(st.st_uid) + ", not by vigild's user (uid " +
                  std::to_string(::geteuid()) + ")";
    } else if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        problem = std::string("group or others may access it (mode ") + mode +
                  "); chmod 0600 it and make a new token";
    } else if (st.st_size > 4096) {
        problem = "larger than 4 KiB";
    } else {
        token.resize(static_cast<std::size_t>(st.st_size));
        const ssize_t n = ::read(fd, token.data(), token.size());
        if (n < 0) {
            problem = "cannot read it";
        } else {
            token.resize(static_cast<std::size_t>(n));
            while (!token.empty() && (token.back() == '\n' || token.back() == '\r' ||
                                      token.back() == ' ' || token.back() == '\t')) {
                token.pop_back();
            }
            if (token.size() < kMinTokenLength) {
                problem =
                    "the token is shorter than " + std::to_string(kMinTokenLength) + " characters";
            } else if (token.find_first_of(" \t\r\n") != std::string::npos) {
                problem = "the token holds white space";
            }
        }
    }
    ::close(fd);
    if (!problem.empty()) {
        return std::unexpected(Error{"webhook token " + path.string() + ": " + problem});
    }
    return token;
}

WebhookReceiver::WebhookReceiver(adapters::EventLoop& loop, const adapters::Journal& journal,
                                 WebhookOptions options, OnAction on_action, OnResult on_result)
    : loop_(loop),
      journal_(journal),
      options_(std::move(options)),
      on_action_(std::move(on_action)),
      on_result_(std::move(on_result)),
      actions_(options_.rules) {}

std::expected<std::unique_ptr<WebhookReceiver>, Error> WebhookReceiver::make(
    adapters::EventLoop& loop, const adapters::Journal& journal, WebhookOptions options,
    OnAction on_action, OnResult on_result) {
    auto token = read_token_file(options.token_file);
    if (!token) return std::unexpected(token.error());
    std::unique_ptr<WebhookReceiver> self(new WebhookReceiver(
        loop, journal, std::move(options), std::move(on_action), std::move(on_result)));
    self->token_ = std::move(*token);
    self->port_ = self->options_.port;
    self->event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (self->event_fd_ < 0) return std::unexpected(Error::from_errno("webhook eventfd", errno));
    auto watch = loop.watch_fd(self->event_fd_, [raw = self.get()] { raw->drain(); });
    if (!watch) return std::unexpected(watch.error());
    self->watch_ = *watch;

    const std::string& host = self->options_.host;
    const std::string listen = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                               ":" + std::to_string(self->options_.port);
    auto http = HttpServer::start("webhook", listen, false, on_request, self.get());
    if (!http) return std::unexpected(http.error());
    self->http_ = std::move(*http);
    return self;
}

WebhookReceiver::~WebhookReceiver() {
    http_.reset();  // joins civetweb's threads before anything they use goes
    if (watch_ != 0) loop_.unwatch(watch_);
    if (event_fd_ >= 0) ::close(event_fd_);
}

std::uint64_t WebhookReceiver::count(WebhookResult result) const {
    return counts_[static_cast<std::size_t>(result)].load();
}

int WebhookReceiver::answer(mg_connection* conn, WebhookResult result, const std::string& detail,
                            std::vector<AlertAction> actions, std::string body) {
    const int status = http_status(result);
    if (body.empty()) {
        body = "{\"status\":\"" + std::string(name(result)) + "\",\"error\":\"" +
               json_escape(detail) + "\"}\n";
    }
    std::string extra;
    if (result == WebhookResult::kUnauthorized) extra = "WWW-Authenticate: Bearer\r\n";
    if (result == WebhookResult::kMethodNotAllowed) extra = "Allow: POST\r\n";
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "%sConnection: close\r\n\r\n",
              status, reason_phrase(status), body.size(), extra.c_str());
    mg_write(conn, body.data(), body.size());
    counts_[static_cast<std::size_t>(result)].fetch_add(1);

    const mg_request_info* info = mg_get_request_info(conn);
    Note note{result, detail, info != nullptr ? info->remote_addr : "", std::move(actions)};
    {
        std::lock_guard lock(mu_);
        if (notes_.size() >= kMaxNotes) return status;  // raced past the check: counted above
        notes_.push_back(std::move(note));
    }
    const std::uint64_t one = 1;
    (void)!::write(event_fd_, &one, sizeof one);
    return status;
}

int WebhookReceiver::handle(mg_connection* conn) {
    try {
        const mg_request_info* info = mg_get_request_info(conn);
        if (info == nullptr) return 0;
        {
            std::lock_guard lock(mu_);
            if (notes_.size() >= kMaxNotes) {
                counts_[static_cast<std::size_t>(WebhookResult::kBusy)].fetch_add(1);
                mg_printf(conn,
                          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                          "Retry-After: 1\r\nConnection: close\r\n\r\n");
                return 503;
            }
        }
        const std::string_view path = info->local_uri != nullptr ? info->local_uri : "";
        if (path != kWebhookPath) {
            return answer(conn, WebhookResult::kNotFound, "no such path");
        }
        if (std::string_view(info->request_method) != "POST") {
            return answer(conn, WebhookResult::kMethodNotAllowed,
                          std::string(info->request_method) + " (only POST)");
        }
        // The token before anything else: no unauthenticated body is read.
        const char* auth = mg_get_header(conn, "Authorization");
        if (auth == nullptr) return answer(conn, WebhookResult::kUnauthorized, "no bearer token");
        const std::string_view a(auth);
        if (a.size() < 7 || ::strncasecmp(auth, "Bearer ", 7) != 0 ||
            !same_secret(a.substr(7), token_)) {
            return answer(conn, WebhookResult::kUnauthorized, "wrong bearer token");
        }
        const std::size_t limit = options_.max_body_bytes;
        if (info->content_length > static_cast<long long>(limit)) {
            return answer(conn, WebhookResult::kTooLarge,
                          "body of " + std::to_string(info->content_length) + " bytes (limit " +
                              std::to_string(limit) + ")");
        }
        const char* type = mg_get_header(conn, "Content-Type");
        if (type == nullptr || ::strncasecmp(type, "application/json", 16) != 0) {
            return answer(conn, WebhookResult::kUnsupportedType,
                          std::string("content type ") + (type != nullptr ? type : "missing") +
                              " (application/json only)");
        }
        // Chunked bodies have no length up front: read one byte past the limit.
        std::string body;
        char buf[8192];
        for (;;) {
            const int n = mg_read(conn, buf, sizeof buf);
            if (n <= 0) break;
            body.append(buf, static_cast<std::size_t>(n));
            if (body.size() > limit) {
                return answer(conn, WebhookResult::kTooLarge,
                              "body over the limit of " + std::to_string(limit) + " bytes");
            }
        }
        auto message = parse_alertmanager_webhook(body);
        if (!message) return answer(conn, WebhookResult::kBadRequest, message.error().message);
        AlertOutcome outcome;
        {
            std::lock_guard lock(mu_);
            outcome = actions_.apply(*message);
        }
        std::string detail = std::to_string(message->alerts.size()) + " alerts, " +
                             std::to_string(outcome.actions.size()) + " actions, " +
                             std::to_string(outcome.duplicates) + " repeats, " +
                             std::to_string(outcome.unmatched) + " without a rule";
        for (const auto& skip : outcome.skipped) {
            detail += "; " + skip.alert + " skipped: " + skip.reason;
        }
        const std::string body_out =
            "{\"status\":\"accepted\",\"actions\":" + std::to_string(outcome.actions.size()) +
            ",\"repeats\":" + std::to_string(outcome.duplicates) + "}\n";
        return answer(conn, WebhookResult::kAccepted, detail, std::move(outcome.actions), body_out);
    } catch (const std::exception&) {
        // Allocation failure and the like: answered, never fatal.
        mg_printf(conn,
                  "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n");
        return 500;
    }
}

void WebhookReceiver::drain() {
    std::uint64_t ignored = 0;
    (void)!::read(event_fd_, &ignored, sizeof ignored);
    std::deque<Note> notes;
    {
        std::lock_guard lock(mu_);
        notes.swap(notes_);
    }
    for (const Note& n : notes) {
        adapters::Fields fields{{"RESULT", std::string(name(n.result))},
                                {"HTTP_STATUS", std::to_string(http_status(n.result))},
                                {"PEER", n.peer},
                                {"DETAIL", n.detail}};
        if (n.result == WebhookResult::kAccepted) {
            journal_.log(adapters::Priority::kInfo, adapters::message_id::kWebhookAction,
                         "webhook request accepted", fields);
        } else {
            journal_.log(adapters::Priority::kWarning, adapters::message_id::kWebhookRefused,
                         "webhook request refused: " + n.detail, fields);
        }
        for (const AlertAction& a : n.actions) {
            journal_.log(
                adapters::Priority::kNotice, adapters::message_id::kWebhookAction,
                "alert " + a.alert + " asks for " + std::string(name(a.action)) + " on " + a.host,
                {{"ACTION", std::string(name(a.action))},
                 {"HOST", a.host},
                 {"ALERT", a.alert},
                 {"FINGERPRINT", a.fingerprint},
                 {"RULE", std::to_string(a.rule)},
                 {"RESOLVED", a.resolved ? "1" : "0"},
                 {"PEER", n.peer}});
            if (on_action_) on_action_(a);
        }
        if (on_result_) on_result_(n.result);
    }
}

}  // namespace vigil::exporters
