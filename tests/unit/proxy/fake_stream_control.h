// A StreamControl for filter unit tests: records what the filter asked for, with a settable clock,
// a seeded Random and timers that tests fire by hand.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/http_filter.h"
#include "proxy/stats/worker_stats.h"

namespace seawall::proxy::testing {

class FakeStreamControl : public StreamControl {
public:
  struct Reply {
    LocalReply reply;
  };
  struct Response {
    ResponseHead head;
    std::string body;
  };
  // The record of a timer handed out by createTimer(): tests read `armed`/`after` and fire it
  // with fireTimer(i) (only while the filter still holds it).
  struct FakeTimer {
    std::function<void()> on_fire;
    bool alive = true;
    bool armed = false;
    std::chrono::microseconds after{0};
  };

  FakeStreamControl() { info_.start = now_; }

  // ---- StreamControl ----
  void resumeRequest() override { ++resumed; }
  void reply(const LocalReply& r) override { replies.push_back({r}); }
  void respond(ResponseHead head, std::string body) override {
    responses.push_back({std::move(head), std::move(body)});
  }
  void retryAttempt(std::chrono::milliseconds delay) override { retries.push_back(delay); }
  bool switchCluster(const std::string& cluster) override {
    switched.push_back(cluster);
    return switch_result;
  }
  void resetStream(std::string_view reason) override { resets.emplace_back(reason); }
  bool detachDownstream(ResponseHead head, std::string body) override {
    if (!detach_result) {
      return false;
    }
    detached.push_back({std::move(head), std::move(body)});
    info_.downstream_detached = true;
    return true;
  }
  void bindJob(const std::string& id) override { bound_jobs.push_back(id); }
  RequestHead& attemptRequest() override { return attempt_request; }
  std::unique_ptr<Timer> createTimer(std::function<void()> on_fire) override {
    auto record = std::make_shared<FakeTimer>();
    record->on_fire = std::move(on_fire);
    timers.push_back(record);
    return std::make_unique<Handle>(record);
  }
  std::chrono::steady_clock::time_point now() const override { return now_; }
  Random& random() override { return random_; }
  stats::ClusterStats* clusterStats(const std::string& cluster) override {
    return &cluster_stats[cluster];
  }
  StreamInfo& info() override { return info_; }
  std::string logPrefix() const override { return "[C0][S0] "; }

  // ---- test side ----
  void advance(std::chrono::steady_clock::duration d) { now_ += d; }
  // Runs the i-th timer created, if the filter still holds it and it is armed (it disarms first,
  // as a fired libevent timer does).
  void fireTimer(size_t i) {
    if (i < timers.size() && timers[i]->alive && timers[i]->armed) {
      timers[i]->armed = false;
      timers[i]->on_fire();
    }
  }

  int resumed = 0;
  std::vector<Reply> replies;
  std::vector<Response> responses;
  std::vector<std::chrono::milliseconds> retries;
  std::vector<std::string> switched;
  bool switch_result = true;
  std::vector<std::string> resets;
  std::vector<Response> detached; // what detachDownstream() sent
  bool detach_result = true;
  std::vector<std::string> bound_jobs;
  RequestHead attempt_request;
  std::map<std::string, stats::ClusterStats> cluster_stats;
  std::vector<std::shared_ptr<FakeTimer>> timers;

private:
  class Handle final : public Timer {
  public:
    explicit Handle(std::shared_ptr<FakeTimer> record) : record_(std::move(record)) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle(Handle&&) = delete;
    Handle& operator=(Handle&&) = delete;
    ~Handle() override { record_->alive = false; }
    void enable(std::chrono::microseconds after) override {
      record_->armed = true;
      record_->after = after;
    }
    void disable() override { record_->armed = false; }
    bool enabled() const override { return record_->armed; }

  private:
    std::shared_ptr<FakeTimer> record_;
  };

  std::chrono::steady_clock::time_point now_ =
      std::chrono::steady_clock::time_point(std::chrono::hours(1000));
  SeededRandom random_{42};
  StreamInfo info_;
};

} // namespace seawall::proxy::testing
