// A stream's filters, in route order, and the iteration rules of proxy/http_filter.h. Each filter
// gets its own StreamControl (an Entry) that knows the filter's position, so a reply from filter i
// goes out through filters i-1 .. 0. Every call that takes the stream over (reply, respond,
// retryAttempt, switchCluster, resetStream) bumps an epoch; an iteration that sees the epoch move
// stops at once (the filter that acted has taken over).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/http_filter.h"

namespace seawall::proxy {

// What the chain needs from its stream: StreamControl's operations, with the caller's position.
class FilterChainCallbacks {
public:
  virtual ~FilterChainCallbacks() = default;
  virtual void resumeRequestFrom(size_t index) = 0;
  virtual void replyFrom(size_t index, const LocalReply& reply) = 0;
  virtual void respondFrom(size_t index, ResponseHead head, std::string body) = 0;
  virtual void retryAttempt(std::chrono::milliseconds delay) = 0;
  virtual bool switchCluster(const std::string& cluster) = 0;
  virtual void resetStream(std::string_view reason) = 0;
  virtual bool detachDownstreamFrom(size_t index, ResponseHead head, std::string body) = 0;
  virtual void bindJob(const std::string& id) = 0;
  virtual filters::async_202::CallbackSender* callbackSender() { return nullptr; }
  virtual RequestHead& attemptRequest() = 0;
  virtual std::unique_ptr<Timer> createTimer(std::function<void()> on_fire) = 0;
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual Random& random() = 0;
  virtual stats::ClusterStats* clusterStats(const std::string& cluster) = 0;
  virtual StreamInfo& info() = 0;
  virtual std::string logPrefix() const = 0;
};

class FilterChain {
public:
  enum class Result { Done, Stopped, Interrupted };

  FilterChain(FilterChainCallbacks& stream,
              const std::vector<std::unique_ptr<FilterFactory>>& factories);
  FilterChain(const FilterChain&) = delete;
  FilterChain& operator=(const FilterChain&) = delete;
  FilterChain(FilterChain&&) = delete;
  FilterChain& operator=(FilterChain&&) = delete;
  ~FilterChain() = default;

  size_t size() const { return entries_.size(); }
  uint64_t epoch() const { return epoch_; }
  void bumpEpoch() { ++epoch_; }

  // Request headers through filters [from, size). `stopped_at` is set on Stopped.
  Result requestHeaders(size_t from, RequestHead& head, bool end_stream, size_t& stopped_at);
  void requestData(evbuffer* data, bool end_stream);
  void requestTrailers(const HeaderMap& trailers);
  Result attemptStart(RequestHead& request);
  void attemptDone(const AttemptResult& result);
  // Response events through filters [0, end) in reverse order.
  Result responseHeaders(size_t end, ResponseHead& head, bool end_stream);
  void responseData(size_t end, evbuffer* data, bool end_stream);
  void responseTrailers(size_t end, const HeaderMap& trailers);
  void streamDone(const StreamInfo& info);

private:
  class Entry final : public StreamControl {
  public:
    Entry(FilterChain& chain, size_t index) : chain_(chain), index_(index) {}
    void resumeRequest() override { chain_.stream_.resumeRequestFrom(index_); }
    void reply(const LocalReply& reply) override;
    void respond(ResponseHead head, std::string body) override;
    void retryAttempt(std::chrono::milliseconds delay) override;
    bool switchCluster(const std::string& cluster) override;
    void resetStream(std::string_view reason) override;
    bool detachDownstream(ResponseHead head, std::string body) override {
      return chain_.stream_.detachDownstreamFrom(index_, std::move(head), std::move(body));
    }
    void bindJob(const std::string& id) override { chain_.stream_.bindJob(id); }
    filters::async_202::CallbackSender* callbackSender() override {
      return chain_.stream_.callbackSender();
    }
    RequestHead& attemptRequest() override { return chain_.stream_.attemptRequest(); }
    std::unique_ptr<Timer> createTimer(std::function<void()> on_fire) override {
      return chain_.stream_.createTimer(std::move(on_fire));
    }
    std::chrono::steady_clock::time_point now() const override { return chain_.stream_.now(); }
    Random& random() override { return chain_.stream_.random(); }
    stats::ClusterStats* clusterStats(const std::string& cluster) override {
      return chain_.stream_.clusterStats(cluster);
    }
    StreamInfo& info() override { return chain_.stream_.info(); }
    std::string logPrefix() const override { return chain_.stream_.logPrefix(); }

    std::unique_ptr<HttpFilter> filter;

  private:
    FilterChain& chain_;
    size_t index_;
  };

  FilterChainCallbacks& stream_;
  std::vector<std::unique_ptr<Entry>> entries_;
  uint64_t epoch_ = 0;
};

} // namespace seawall::proxy
