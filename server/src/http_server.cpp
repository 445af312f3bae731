// The HTTP/REST transport on Boost.Beast.
//
// Note [Why Beast]. Beast comes with the Boost 1.74 the project already uses
// (header-only, no new package), parses HTTP/1.1 with explicit header and
// body limits (so an oversized body is refused from its Content-Length before
// it is read: 413), and is asynchronous on Asio, so a connection waiting for a
// model costs no thread. The alternatives packaged in Debian (cpp-httplib,
// Pistache, civetweb) are thread-per-connection or lack the limits.
//
// One io_context runs on `httpThreads` threads; each connection is a Session
// on its own strand. An infer request is decoded on the I/O thread, queued on
// its model, and answered from the model's worker by posting the outcome back
// to the session's strand, where it is encoded and written.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <future>
#include <optional>
#include <thread>

#include "http_codec.h"
#include "server_core.h"

namespace sy::serve {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

class HttpFrontendImpl;

/// Splits "/v2/models/m/versions/1/infer" into {"v2","models","m","versions","1","infer"}.
std::vector<std::string> splitPath(std::string_view target) {
  const size_t q = target.find('?');
  if (q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < target.size()) {
    while (i < target.size() && target[i] == '/') ++i;
    size_t j = i;
    while (j < target.size() && target[j] != '/') ++j;
    if (j > i) parts.emplace_back(target.substr(i, j - i));
    i = j;
  }
  return parts;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpFrontendImpl& server, bool overloaded);
  ~Session();
  void start() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::doRead, shared_from_this()));
  }

 private:
  void doRead();
  void onHeader(beast::error_code ec, size_t bytes);
  void onRead(beast::error_code ec, size_t bytes);
  void handle(http::request<http::string_body>&& req);
  void handleInfer(http::request<http::string_body>& req, const std::string& model, const std::string& version);
  Response json(http::status status, std::string body);
  Response error(const ServeError& e) { return json(static_cast<http::status>(httpStatusOf(e.kind)), errorJson(e.message)); }
  void send(Response&& res, bool closeAfter = false, bool inflight = false);
  void close();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpFrontendImpl& server_;
  ServerCore& core_;
  unsigned version_ = 11;
  bool keepAlive_ = true;
  bool overloaded_;
};

class HttpFrontendImpl : public Frontend {
 public:
  explicit HttpFrontendImpl(ServerCore& core) : core(core) {}
  ~HttpFrontendImpl() override { stop(); }

  Result<int> start(const std::string& host, int port) override {
    beast::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (ec) return invalidArgument("bad address '", host, "': ", ec.message());
    acceptor_.emplace(net::make_strand(ioc_));
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return invalidArgument("cannot listen on ", host, ":", port, ": ", ec.message());
    const int bound = acceptor_->local_endpoint().port();
    doAccept();
    int threads = core.options.httpThreads;
    if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    return bound;
  }

  void stopAccepting() override {
    if (!acceptor_ || threads_.empty()) return;
    std::promise<void> closed;
    net::post(acceptor_->get_executor(), [this, &closed] {
      beast::error_code ec;
      acceptor_->close(ec);
      closed.set_value();
    });
    closed.get_future().wait();
  }

  void stop() override {
    if (stopped_.exchange(true)) return;
    work_.reset();
    ioc_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  ServerCore& core;
  std::atomic<int> sessions{0};

 private:
  void doAccept() {
    acceptor_->async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (!ec) {
        const bool overloaded = sessions.load() >= core.options.maxConnections;
        std::make_shared<Session>(std::move(socket), *this, overloaded)->start();
      }
      if (acceptor_->is_open()) doAccept();
    });
  }

  // Declared so that the io_context outlives the acceptor and the threads,
  // and `sessions` outlives the io_context (pending handlers own sessions).
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{ioc_.get_executor()};
  std::optional<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

Session::Session(tcp::socket&& socket, HttpFrontendImpl& server, bool overloaded)
    : stream_(std::move(socket)), server_(server), core_(server.core), overloaded_(overloaded) {
  server_.sessions.fetch_add(1);
}

Session::~Session() { server_.sessions.fetch_sub(1); }

void Session::close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.socket().close(ec);
}

void Session::doRead() {
  parser_.emplace();
  parser_->body_limit(core_.options.maxRequestBytes);
  parser_->header_limit(64 * 1024);
  stream_.expires_after(std::chrono::seconds(120));
  // The header first: a client that sent "Expect: 100-continue" (curl does for
  // bodies over 1 KiB) waits for a 100 before it sends the body.
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::onHeader, shared_from_this()));
}

void Session::onHeader(beast::error_code ec, size_t bytes) {
  if (ec) return onRead(ec, bytes);
  auto readBody = [self = shared_from_this()] {
    http::async_read(self->stream_, self->buffer_, *self->parser_,
                     beast::bind_front_handler(&Session::onRead, self));
  };
  const auto& header = parser_->get();
  auto expect = header.find(http::field::expect);
  if (expect == header.end() || !beast::iequals(expect->value(), "100-continue") || parser_->is_done())
    return readBody();
  auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, header.version());
  http::async_write(stream_, *cont, [self = shared_from_this(), cont, readBody](beast::error_code wec, size_t) {
    if (wec) return self->close();
    readBody();
  });
}

void Session::onRead(beast::error_code ec, size_t) {
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset)
    return close();
  if (ec == http::error::body_limit) {
    keepAlive_ = false;
    core_.metrics.countRejected(static_cast<int>(ErrorKind::TooLarge));
    return send(error({ErrorKind::TooLarge, "the request body is larger than the server's limit of " +
                                                std::to_string(core_.options.maxRequestBytes) +
                                                " bytes (--max-request-bytes)"}),
                true);
  }
  if (ec == http::error::header_limit) {
    keepAlive_ = false;
    return send(json(http::status::request_header_fields_too_large, errorJson("the request headers exceed 64 KiB")),
                true);
  }
  if (ec) {
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      keepAlive_ = false;
      core_.metrics.countRejected(static_cast<int>(ErrorKind::BadRequest));
      return send(error({ErrorKind::BadRequest, "malformed HTTP request: " + ec.message()}), true);
    }
    return close();
  }
  handle(parser_->release());
}

Response Session::json(http::status status, std::string body) {
  Response res{status, version_};
  res.set(http::field::server, "switchyard");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keepAlive_);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

void Session::send(Response&& res, bool closeAfter, bool inflight) {
  auto shared = std::make_shared<Response>(std::move(res));
  if (closeAfter) shared->keep_alive(false);
  stream_.expires_after(std::chrono::seconds(60));
  http::async_write(stream_, *shared,
                    [self = shared_from_this(), shared, inflight](beast::error_code ec, size_t) {
                      if (inflight) self->core_.inflight.fetch_sub(1);
                      if (ec || !shared->keep_alive()) return self->close();
                      self->doRead();
                    });
}

void Session::handle(http::request<http::string_body>&& req) {
  version_ = req.version();
  keepAlive_ = req.keep_alive();
  if (overloaded_) {
    keepAlive_ = false;
    return send(error({ErrorKind::Unavailable, "too many connections (" + std::to_string(core_.options.maxConnections) +
                                                   "); retry later"}),
                true);
  }
  const std::vector<std::string> p = splitPath(std::string_view(req.target().data(), req.target().size()));
  const http::verb method = req.method();
  const bool get = method == http::verb::get, post = method == http::verb::post;
  auto methodNotAllowed = [&](const char* allowed) {
    Response res = json(http::status::method_not_allowed,
                        errorJson(std::string(req.method_string()) + " is not allowed here; use " + allowed));
    res.set(http::field::allow, allowed);
    return send(std::move(res));
  };
  auto notFound = [&] {
    core_.metrics.countRejected(static_cast<int>(ErrorKind::NotFound));
    return send(json(http::status::not_found,
                     errorJson("no such endpoint: " + std::string(req.method_string()) + " " +
                               std::string(req.target()))));
  };

  if (p.size() == 1 && p[0] == "metrics") {
    if (!get) return methodNotAllowed("GET");
    Response res = json(http::status::ok, core_.metrics.render());
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    return send(std::move(res));
  }
  if (p.empty() || p[0] != "v2") return notFound();
  if (p.size() == 1) {
    if (!get) return methodNotAllowed("GET");
    return send(json(http::status::ok, serverMetadataJson()));
  }
  if (p.size() == 3 && p[1] == "health" && (p[2] == "live" || p[2] == "ready")) {
    if (!get) return methodNotAllowed("GET");
    if (p[2] == "live") return send(json(http::status::ok, "{\"live\":true}"));
    const bool ready = core_.ready.load();
    return send(json(ready ? http::status::ok : http::status::service_unavailable,
                     ready ? "{\"ready\":true}" : "{\"ready\":false}"));
  }
  if (p[1] == "repository") {
    if (p.size() == 3 && p[2] == "index") {
      if (!post) return methodNotAllowed("POST");
      return send(json(http::status::ok, repositoryIndexJson(core_.repository.index())));
    }
    if (p.size() == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
      if (!post) return methodNotAllowed("POST");
      // Loading compiles a model (seconds); it runs on this I/O thread, which
      // the other I/O threads cover for meanwhile.
      const Status st = p[4] == "load" ? core_.repository.load(p[3]) : core_.repository.unload(p[3]);
      if (!st.ok()) return send(error(errorFromStatus(st)));
      return send(json(http::status::ok, "{}"));
    }
    return notFound();
  }
  if (p[1] != "models" || p.size() < 3) return notFound();
  // /v2/models/{name}[/versions/{v}][/ready|/infer]
  const std::string& model = p[2];
  std::string version;
  size_t next = 3;
  if (p.size() >= 5 && p[3] == "versions") {
    version = p[4];
    next = 5;
  }
  const std::string action = next < p.size() ? p[next] : "";
  if (next + 1 < p.size() || (action != "" && action != "ready" && action != "infer")) return notFound();
  if (action == "infer") {
    if (!post) return methodNotAllowed("POST");
    return handleInfer(req, model, version);
  }
  if (!get) return methodNotAllowed("GET");
  ServeError err;
  std::shared_ptr<ModelVersion> m = core_.repository.find(model, version, &err);
  if (action == "ready") {
    if (!m) return send(error(err));
    return send(json(m->stopped() ? http::status::service_unavailable : http::status::ok,
                     std::string("{\"name\":\"") + m->name() + "\",\"ready\":" + (m->stopped() ? "false" : "true") + "}"));
  }
  if (!m) return send(error(err));
  return send(json(http::status::ok, modelMetadataJson(*m, core_.repository.versions(model))));
}

void Session::handleInfer(http::request<http::string_body>& req, const std::string& model, const std::string& version) {
  if (core_.draining.load()) {
    keepAlive_ = false;
    return send(error({ErrorKind::Unavailable, "the server is shutting down"}), true);
  }
  ServeError err;
  std::shared_ptr<ModelVersion> m = core_.repository.find(model, version, &err);
  if (!m) {
    core_.metrics.countRejected(static_cast<int>(err.kind));
    return send(error(err));
  }
  std::optional<size_t> jsonLength;
  auto header = req.find("Inference-Header-Content-Length");
  if (header != req.end()) {
    const std::string v(header->value());
    size_t n = 0;
    bool ok = !v.empty() && v.size() <= 18;
    for (char c : v) ok = ok && c >= '0' && c <= '9';
    if (ok) n = std::stoull(v);
    if (!ok) {
      core_.metrics.countRejected(static_cast<int>(ErrorKind::BadRequest));
      return send(error({ErrorKind::BadRequest, "Inference-Header-Content-Length '" + v + "' is not a byte count"}));
    }
    jsonLength = n;
  }
  auto request = std::make_shared<InferRequest>();
  if (auto e = decodeInferRequest(req.body(), jsonLength, *request)) {
    core_.metrics.countRejected(static_cast<int>(e->kind));
    return send(error(*e));
  }
  // The callback keeps what encoding needs; the body is released now.
  req.body().clear();
  req.body().shrink_to_fit();
  InferRequest submitted;
  submitted.id = request->id;
  submitted.outputs = request->outputs;
  submitted.binaryOutputs = request->binaryOutputs;
  submitted.inputs = std::move(request->inputs);
  request->inputs.clear();
  core_.inflight.fetch_add(1);
  auto self = shared_from_this();
  const std::string name = m->name(), ver = m->version();
  auto done = [self, request, name, ver](InferOutcome&& outcome) {
    auto shared = std::make_shared<InferOutcome>(std::move(outcome));
    net::post(self->stream_.get_executor(), [self, request, name, ver, shared] {
      if (shared->error) return self->send(self->error(*shared->error), false, true);
      EncodedBody body = encodeInferResponse(name, ver, *request, *shared);
      Response res = self->json(http::status::ok, std::move(body.body));
      if (body.jsonLength) {
        res.set(http::field::content_type, "application/octet-stream");
        res.set("Inference-Header-Content-Length", std::to_string(*body.jsonLength));
      }
      self->send(std::move(res), false, true);
    });
  };
  if (auto e = m->submit(std::move(submitted), std::move(done))) {
    core_.inflight.fetch_sub(1);
    return send(error(*e));
  }
}

}  // namespace

std::unique_ptr<Frontend> makeHttpFrontend(ServerCore& core) { return std::make_unique<HttpFrontendImpl>(core); }

}  // namespace sy::serve
