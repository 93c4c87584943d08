#include "airssys/wasm/lattice/link.hpp"

#include <nats/nats.h>

#include <climits>
#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

namespace airssys::wasm::lattice {

namespace {

std::string status_text(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last && *last && text.find(last) == std::string::npos) text += std::string(": ") + last;
  return text;
}

// A subject the server takes: printable, no spaces, not empty.
bool valid_subject(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

Error bad_subject(std::string_view s) {
  return Error::of(ErrorCode::InvalidArgument,
                   fmt::format("'{}' is not a NATS subject (1 to 1024 printable characters, no "
                               "spaces)",
                               s));
}

}  // namespace

const char* link_event_name(LinkEvent event) {
  switch (event) {
    case LinkEvent::Disconnected: return "disconnected";
    case LinkEvent::Reconnected: return "reconnected";
    case LinkEvent::Closed: return "closed";
  }
  return "?";
}

struct Link::State {
  LinkOptions options;
  natsOptions* nats_options = nullptr;
  natsConnection* connection = nullptr;

  ~State() {
    if (connection) {
      natsConnection_Close(connection);
      natsConnection_Destroy(connection);
    }
    if (nats_options) natsOptions_Destroy(nats_options);
  }
  void tell(LinkEvent e) const {
    if (options.on_event) options.on_event(e);
  }
};

struct Subscription::State {
  DeliveryHandler handler;
  natsSubscription* subscription = nullptr;
  std::mutex mutex;  // unsubscribe() against a delivery in progress
  // The client's word that no handler runs any more (its on-complete
  // callback, after the subscription closed).
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;

  static void on_complete(void* closure) {
    auto* self = static_cast<State*>(closure);
    std::lock_guard lock(self->done_mutex);
    self->done = true;
    self->done_cv.notify_all();
  }

  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<State*>(closure);
    const char* reply = natsMsg_GetReply(msg);
    Delivery d{natsMsg_GetSubject(msg), reply ? std::string_view(reply) : std::string_view(),
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(natsMsg_GetData(msg)),
                                        static_cast<size_t>(natsMsg_GetDataLength(msg)))};
    {
      std::lock_guard lock(self->mutex);
      if (self->subscription) self->handler(d);
    }
    natsMsg_Destroy(msg);
  }
};

Subscription::Subscription(std::unique_ptr<State> state) : state_(std::move(state)) {}

Subscription::~Subscription() { unsubscribe(); }

void Subscription::unsubscribe() {
  if (!state_) return;
  natsSubscription* sub = nullptr;
  {
    std::lock_guard lock(state_->mutex);
    sub = state_->subscription;
    state_->subscription = nullptr;
  }
  if (!sub) return;
  natsSubscription_Unsubscribe(sub);
  // The client may still be about to call the handler once: the state lives
  // until it says it will not. Should it never say so, the state is left
  // behind rather than freed under it.
  bool done = false;
  {
    std::unique_lock lock(state_->done_mutex);
    done = state_->done_cv.wait_for(lock, std::chrono::seconds(30), [&] { return state_->done; });
  }
  natsSubscription_Destroy(sub);
  if (!done) (void)state_.release();
}

Link::Link(std::unique_ptr<State> state) : state_(std::move(state)) {}
Link::~Link() = default;

Result<std::unique_ptr<Link>> Link::connect(LinkOptions options) {
  if (options.servers.empty()) {
    return make_error(ErrorCode::InvalidConfig, "the lattice names no NATS server");
  }
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  const LinkOptions& o = state->options;
  natsStatus s = natsOptions_Create(&state->nats_options);
  if (s != NATS_OK) {
    return make_error(ErrorCode::InternalError, "NATS client: " + status_text(s));
  }
  natsOptions* no = state->nats_options;
  std::vector<const char*> urls;
  for (const auto& url : o.servers) urls.push_back(url.c_str());
  auto check = [&](natsStatus st, std::string_view what) -> Result<void> {
    if (st == NATS_OK) return {};
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("lattice: {}: {}", what, status_text(st)));
  };
  AIRSSYS_TRY(check(natsOptions_SetServers(no, urls.data(), static_cast<int>(urls.size())),
                    "the NATS server URLs"));
  AIRSSYS_TRY(check(natsOptions_SetNoRandomize(no, true), "server order"));
  // What a host publishes never comes back to it: its own components get
  // their messages locally.
  AIRSSYS_TRY(check(natsOptions_SetNoEcho(no, true), "no echo"));
  if (!o.name.empty()) AIRSSYS_TRY(check(natsOptions_SetName(no, o.name.c_str()), "name"));
  if (!o.user.empty() || !o.password.empty()) {
    AIRSSYS_TRY(check(natsOptions_SetUserInfo(no, o.user.c_str(), o.password.c_str()),
                      "user and password"));
  }
  if (!o.nkey_seed_file.empty()) {
    AIRSSYS_TRY(check(natsOptions_SetNKeyFromSeed(no, o.nkey_public.c_str(),
                                                  o.nkey_seed_file.c_str()),
                      "the NKey"));
  }
  if (!o.tls_ca_file.empty()) {
    AIRSSYS_TRY(check(natsOptions_SetSecure(no, true), "TLS"));
    AIRSSYS_TRY(check(natsOptions_LoadCATrustedCertificates(no, o.tls_ca_file.c_str()),
                      o.tls_ca_file.string()));
  }
  if (!o.tls_cert_file.empty()) {
    AIRSSYS_TRY(check(natsOptions_LoadCertificatesChain(no, o.tls_cert_file.c_str(),
                                                        o.tls_key_file.c_str()),
                      o.tls_cert_file.string()));
  }
  AIRSSYS_TRY(check(natsOptions_SetTimeout(no, o.connect_timeout.count()), "connect timeout"));
  AIRSSYS_TRY(check(natsOptions_SetAllowReconnect(no, true), "reconnect"));
  AIRSSYS_TRY(check(natsOptions_SetMaxReconnect(no, -1), "reconnect"));  // forever
  AIRSSYS_TRY(check(natsOptions_SetReconnectWait(no, o.reconnect_wait.count()), "reconnect"));
  AIRSSYS_TRY(check(natsOptions_SetReconnectBufSize(
                        no, static_cast<int>(std::min<size_t>(o.reconnect_buffer_bytes, INT_MAX))),
                    "reconnect buffer"));
  State* raw = state.get();
  natsOptions_SetDisconnectedCB(
      no, [](natsConnection*, void* c) { static_cast<State*>(c)->tell(LinkEvent::Disconnected); },
      raw);
  natsOptions_SetReconnectedCB(
      no, [](natsConnection*, void* c) { static_cast<State*>(c)->tell(LinkEvent::Reconnected); },
      raw);
  natsOptions_SetClosedCB(
      no, [](natsConnection*, void* c) { static_cast<State*>(c)->tell(LinkEvent::Closed); }, raw);
  s = natsConnection_Connect(&state->connection, no);
  if (s != NATS_OK) {
    state->connection = nullptr;
    std::string servers;
    for (const auto& url : o.servers) servers += (servers.empty() ? "" : ", ") + url;
    return make_error(ErrorCode::IoError,
                      fmt::format("lattice: no NATS server of {} took the connection: {}",
                                  servers, status_text(s)));
  }
  return std::unique_ptr<Link>(new Link(std::move(state)));
}

Result<void> Link::publish(std::string_view subject, std::span<const uint8_t> data,
                           std::string_view reply) {
  if (!valid_subject(subject)) return std::unexpected(bad_subject(subject));
  if (!reply.empty() && !valid_subject(reply)) return std::unexpected(bad_subject(reply));
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return make_error(ErrorCode::InvalidArgument, "a NATS message is at most 2 GiB");
  }
  const std::string subj(subject);
  const std::string rep(reply);
  const int size = static_cast<int>(data.size());
  natsStatus s = rep.empty() ? natsConnection_Publish(state_->connection, subj.c_str(),
                                                      data.data(), size)
                             : natsConnection_PublishRequest(state_->connection, subj.c_str(),
                                                             rep.c_str(), data.data(), size);
  if (s != NATS_OK) {
    return make_error(ErrorCode::IoError,
                      fmt::format("lattice: publish on {}: {}", subject, status_text(s)));
  }
  return {};
}

Result<std::unique_ptr<Subscription>> Link::subscribe(std::string_view subject,
                                                      DeliveryHandler handler) {
  if (!valid_subject(subject)) return std::unexpected(bad_subject(subject));
  auto state = std::make_unique<Subscription::State>();
  state->handler = std::move(handler);
  const std::string subj(subject);
  natsSubscription* sub = nullptr;
  std::unique_lock lock(state->mutex);  // no delivery before the subscription is stored
  natsStatus s = natsConnection_Subscribe(&sub, state_->connection, subj.c_str(),
                                          &Subscription::State::on_message, state.get());
  if (s != NATS_OK) {
    return make_error(ErrorCode::IoError,
                      fmt::format("lattice: subscribe to {}: {}", subject, status_text(s)));
  }
  // No limit on what waits for the handler: the host bounds its own queues.
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsSubscription_SetOnCompleteCB(sub, &Subscription::State::on_complete, state.get());
  state->subscription = sub;
  lock.unlock();
  return std::unique_ptr<Subscription>(new Subscription(std::move(state)));
}

Result<std::vector<uint8_t>> Link::request(std::string_view subject, std::span<const uint8_t> data,
                                           std::chrono::milliseconds timeout) {
  if (!valid_subject(subject)) return std::unexpected(bad_subject(subject));
  const std::string subj(subject);
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, state_->connection, subj.c_str(), data.data(),
                                        static_cast<int>(data.size()), timeout.count());
  if (s != NATS_OK) {
    return make_error(ErrorCode::IoError,
                      s == NATS_TIMEOUT
                          ? fmt::format("lattice: no reply on {} within {} ms", subject,
                                        timeout.count())
                          : fmt::format("lattice: request on {}: {}", subject, status_text(s)));
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(natsMsg_GetData(reply));
  std::vector<uint8_t> out(bytes, bytes + natsMsg_GetDataLength(reply));
  natsMsg_Destroy(reply);
  return out;
}

Result<void> Link::flush(std::chrono::milliseconds timeout) {
  natsStatus s = natsConnection_FlushTimeout(state_->connection, timeout.count());
  if (s != NATS_OK) return make_error(ErrorCode::IoError, "lattice: flush: " + status_text(s));
  return {};
}

bool Link::connected() const {
  return natsConnection_Status(state_->connection) == NATS_CONN_STATUS_CONNECTED;
}

std::string Link::server() const {
  char url[512] = {0};
  if (natsConnection_GetConnectedUrl(state_->connection, url, sizeof url) != NATS_OK) return {};
  return url;
}

}  // namespace airssys::wasm::lattice
