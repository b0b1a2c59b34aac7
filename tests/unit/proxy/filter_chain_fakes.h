// Test doubles for FilterChain unit tests: a FilterChainCallbacks that records what the chain
// forwarded (with the caller's position), and scripted filters that write every hook they see into
// a shared log and can be told to return StopIteration and/or take one StreamControl action from a
// given hook.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/filter_chain.h"
#include "proxy/http_filter.h"

namespace seawall::proxy::testing {

enum class Hook {
  RequestHeaders,
  RequestData,
  RequestTrailers,
  AttemptStart,
  AttemptDone,
  ResponseHeaders,
  ResponseData,
  ResponseTrailers,
  StreamDone,
};

inline const char* hookName(Hook h) {
  switch (h) {
  case Hook::RequestHeaders:
    return "reqHeaders";
  case Hook::RequestData:
    return "reqData";
  case Hook::RequestTrailers:
    return "reqTrailers";
  case Hook::AttemptStart:
    return "attemptStart";
  case Hook::AttemptDone:
    return "attemptDone";
  case Hook::ResponseHeaders:
    return "resHeaders";
  case Hook::ResponseData:
    return "resData";
  case Hook::ResponseTrailers:
    return "resTrailers";
  case Hook::StreamDone:
    return "streamDone";
  }
  return "?";
}

// A StreamControl operation a scripted filter can take.
enum class Action { None, Reply, Respond, Retry, SwitchCluster, Reset, Resume };

// The shared log: "<filter id>:<hook name>" in call order.
using CallLog = std::vector<std::string>;

// Expected log lines for filters `ids` (in that order) seeing `hook`.
inline CallLog calls(const std::vector<int>& ids, Hook hook) {
  CallLog out;
  out.reserve(ids.size());
  for (int id : ids) {
    out.push_back(std::to_string(id) + ":" + hookName(hook));
  }
  return out;
}

struct Script {
  std::optional<Hook> stop_on; // returns StopIteration from this hook
  std::optional<Hook> act_on;  // takes `action` from this hook (before returning)
  Action action = Action::None;
  bool create = true; // false: the factory returns nullptr
};

class RecordingCallbacks final : public FilterChainCallbacks {
public:
  void resumeRequestFrom(size_t index) override { resumed_from.push_back(index); }
  void replyFrom(size_t index, const LocalReply& reply) override {
    replied_from.push_back(index);
    reply_reasons.push_back(reply.reason);
  }
  void respondFrom(size_t index, ResponseHead head, std::string body) override {
    responded_from.push_back(index);
    respond_statuses.push_back(head.status);
    respond_bodies.push_back(std::move(body));
  }
  void retryAttempt(std::chrono::milliseconds delay) override { retries.push_back(delay); }
  bool switchCluster(const std::string& cluster) override {
    switched.push_back(cluster);
    return switch_result;
  }
  void resetStream(std::string_view reason) override { resets.emplace_back(reason); }
  bool detachDownstreamFrom(size_t index, ResponseHead /*head*/, std::string /*body*/) override {
    detached_from.push_back(index);
    return true;
  }
  void bindJob(const std::string& id) override { bound_jobs.push_back(id); }
  RequestHead& attemptRequest() override { return attempt_request; }
  // Chain tests need no timers.
  std::unique_ptr<Timer> createTimer(std::function<void()> /*on_fire*/) override {
    ++timers_requested;
    return nullptr;
  }
  std::chrono::steady_clock::time_point now() const override { return clock; }
  Random& random() override { return rng; }
  stats::ClusterStats* clusterStats(const std::string& cluster) override {
    stats_asked.push_back(cluster);
    return nullptr;
  }
  StreamInfo& info() override { return stream_info; }
  std::string logPrefix() const override { return "[C7][S9] "; }

  std::vector<size_t> resumed_from;
  std::vector<size_t> replied_from;
  std::vector<std::string> reply_reasons;
  std::vector<size_t> responded_from;
  std::vector<int> respond_statuses;
  std::vector<std::string> respond_bodies;
  std::vector<std::chrono::milliseconds> retries;
  std::vector<std::string> switched;
  bool switch_result = false;
  std::vector<std::string> resets;
  std::vector<size_t> detached_from;
  std::vector<std::string> bound_jobs;
  std::vector<std::string> stats_asked;
  int timers_requested = 0;
  RequestHead attempt_request;
  StreamInfo stream_info;
  std::chrono::steady_clock::time_point clock =
      std::chrono::steady_clock::time_point(std::chrono::hours(5));
  SeededRandom rng{7};
};

class ScriptedFilter final : public HttpFilter {
public:
  ScriptedFilter(int id, StreamControl& control, CallLog& log, Script script)
      : id_(id), control_(control), log_(log), script_(script) {}

  FilterStatus onRequestHeaders(RequestHead& /*head*/, bool /*end_stream*/) override {
    return hook(Hook::RequestHeaders);
  }
  void onRequestData(evbuffer* data, bool /*end_stream*/) override {
    last_data = data;
    hook(Hook::RequestData);
  }
  void onRequestTrailers(const HeaderMap& trailers) override {
    last_trailers = &trailers;
    hook(Hook::RequestTrailers);
  }
  FilterStatus onAttemptStart(RequestHead& /*attempt_request*/) override {
    return hook(Hook::AttemptStart);
  }
  void onAttemptDone(const AttemptResult& result) override {
    last_attempt = result.attempt;
    hook(Hook::AttemptDone);
  }
  FilterStatus onResponseHeaders(ResponseHead& /*head*/, bool /*end_stream*/) override {
    return hook(Hook::ResponseHeaders);
  }
  void onResponseData(evbuffer* data, bool /*end_stream*/) override {
    last_data = data;
    hook(Hook::ResponseData);
  }
  void onResponseTrailers(const HeaderMap& trailers) override {
    last_trailers = &trailers;
    hook(Hook::ResponseTrailers);
  }
  void onStreamDone(const StreamInfo& info) override {
    last_info = &info;
    hook(Hook::StreamDone);
  }

  // Takes `action` through this filter's StreamControl (also usable outside any hook, as a timer
  // would).
  void act(Action action) {
    switch (action) {
    case Action::None:
      return;
    case Action::Reply:
      control_.reply(LocalReply{503, "scripted-" + std::to_string(id_), "scripted", std::nullopt});
      return;
    case Action::Respond:
      control_.respond(ResponseHead{200, {}}, "from-" + std::to_string(id_));
      return;
    case Action::Retry:
      control_.retryAttempt(std::chrono::milliseconds(10 * (id_ + 1)));
      return;
    case Action::SwitchCluster:
      switch_results.push_back(control_.switchCluster("backup"));
      return;
    case Action::Reset:
      control_.resetStream("scripted");
      return;
    case Action::Resume:
      control_.resumeRequest();
      return;
    }
  }

  StreamControl& control() { return control_; }
  int id() const { return id_; }

  evbuffer* last_data = nullptr;
  const HeaderMap* last_trailers = nullptr;
  std::optional<uint32_t> last_attempt;
  const StreamInfo* last_info = nullptr;
  std::vector<bool> switch_results;

private:
  FilterStatus hook(Hook h) {
    log_.push_back(std::to_string(id_) + ":" + hookName(h));
    if (script_.act_on == h) {
      act(script_.action);
    }
    return script_.stop_on == h ? StopIteration : Continue;
  }

  int id_;
  StreamControl& control_;
  CallLog& log_;
  Script script_;
};

// Creates a ScriptedFilter with the factory's id (its position among all factories), or nullptr
// when the script says so; created filters are appended to `created` so tests can reach them.
class ScriptedFactory final : public FilterFactory {
public:
  ScriptedFactory(int id, CallLog& log, Script script, std::vector<ScriptedFilter*>& created)
      : id_(id), log_(log), script_(script), created_(created) {}

  std::unique_ptr<HttpFilter> create(StreamControl& control) const override {
    if (!script_.create) {
      return nullptr;
    }
    auto filter = std::make_unique<ScriptedFilter>(id_, control, log_, script_);
    created_.push_back(filter.get());
    return filter;
  }
  std::string_view name() const override { return "scripted"; }

private:
  int id_;
  CallLog& log_;
  Script script_;
  std::vector<ScriptedFilter*>& created_;
};

} // namespace seawall::proxy::testing
