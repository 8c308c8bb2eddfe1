// An Alertmanager webhook receiver (civetweb): POST /alertmanager with a
// bearer token read from a root-only file, a body size limit, and the rule
// table of alertmanager.h. Requests are answered on civetweb's threads; the
// actions they produce, and every result, reach the event loop through an
// eventfd and are handed to the owner there.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/journal.h"
#include "daemon/ports/error.h"
#include "exporters/alertmanager.h"
#include "exporters/http_server.h"

struct mg_connection;

namespace vigil::exporters {

// How a webhook request was answered.
enum class WebhookResult : std::uint8_t {
    kAccepted,          // 200
    kBadRequest,        // 400: not a version 4 Alertmanager message
    kUnauthorized,      // 401: no bearer token, or the wrong one
    kNotFound,          // 404: another path
    kMethodNotAllowed,  // 405: not POST
    kTooLarge,          // 413: over the body limit
    kUnsupportedType,   // 415: not application/json
    kBusy,              // 503: the loop has not caught up with earlier requests
};

inline constexpr WebhookResult kAllWebhookResults[] = {
    WebhookResult::kAccepted,         WebhookResult::kBadRequest,
    WebhookResult::kUnauthorized,     WebhookResult::kNotFound,
    WebhookResult::kMethodNotAllowed, WebhookResult::kTooLarge,
    WebhookResult::kUnsupportedType,  WebhookResult::kBusy};

// "accepted", "bad-request", ...: the metric label.
[[nodiscard]] std::string_view name(WebhookResult result);
[[nodiscard]] int http_status(WebhookResult result);

inline constexpr std::string_view kWebhookPath = "/alertmanager";

struct WebhookOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 9775;
    std::filesystem::path token_file = "/etc/vigil/webhook.token";
    std::size_t max_body_bytes = std::size_t{256} * 1024;
    std::vector<AlertRule> rules;
};

// Reads the bearer token: a regular file owned by vigild's user (root),
// neither readable nor writable by group or others, holding one line of at
// least 16 characters.
[[nodiscard]] std::expected<std::string, Error> read_token_file(const std::filesystem::path& path);

class WebhookReceiver {
  public:
    // On the loop thread: each action once, and each request's result.
    using OnAction = std::function<void(const AlertAction&)>;
    using OnResult = std::function<void(WebhookResult)>;

    [[nodiscard]] static std::expected<std::unique_ptr<WebhookReceiver>, Error> make(
        adapters::EventLoop& loop, const adapters::Journal& journal, WebhookOptions options,
        OnAction on_action, OnResult on_result = {});
    ~WebhookReceiver();  // stops the server, then the loop source
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    // Answered requests by result, counted as they are answered (any thread).
    [[nodiscard]] std::uint64_t count(WebhookResult result) const;
    // The port it listens on (the configured one, or the one the kernel
    // chose for port 0).
    [[nodiscard]] std::uint16_t port() const { return port_; }

    // civetweb's entry point; public only for its C callback.
    int handle(mg_connection* conn);

  private:
    WebhookReceiver(adapters::EventLoop& loop, const adapters::Journal& journal,
                    WebhookOptions options, OnAction on_action, OnResult on_result);
    struct Note {
        WebhookResult result = WebhookResult::kAccepted;
        std::string detail;
        std::string peer;
        std::vector<AlertAction> actions;
    };
    int answer(mg_connection* conn, WebhookResult result, const std::string& detail,
               std::vector<AlertAction> actions = {}, std::string body = {});
    void drain();

    adapters::EventLoop& loop_;
    const adapters::Journal& journal_;
    WebhookOptions options_;
    OnAction on_action_;
    OnResult on_result_;
    std::string token_;
    std::uint16_t port_ = 0;
    int event_fd_ = -1;
    adapters::EventLoop::WatchId watch_ = 0;
    std::unique_ptr<HttpServer> http_;

    std::mutex mu_;  // guards actions_ and notes_, shared with civetweb's threads
    AlertActions actions_;
    std::deque<Note> notes_;
    std::array<std::atomic<std::uint64_t>, std::size(kAllWebhookResults)> counts_{};
};

}  // namespace vigil::exporters
