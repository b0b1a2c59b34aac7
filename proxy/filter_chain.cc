#include "proxy/filter_chain.h"

#include <algorithm>

namespace seawall::proxy {

void FilterChain::Entry::reply(const LocalReply& reply) {
  chain_.bumpEpoch();
  chain_.stream_.replyFrom(index_, reply);
}

void FilterChain::Entry::respond(ResponseHead head, std::string body) {
  chain_.bumpEpoch();
  chain_.stream_.respondFrom(index_, std::move(head), std::move(body));
}

void FilterChain::Entry::retryAttempt(std::chrono::milliseconds delay) {
  chain_.bumpEpoch();
  chain_.stream_.retryAttempt(delay);
}

bool FilterChain::Entry::switchCluster(const std::string& cluster) {
  uint64_t before = chain_.epoch_;
  chain_.bumpEpoch();
  if (chain_.stream_.switchCluster(cluster)) {
    return true;
  }
  chain_.epoch_ = before; // nothing happened: the iteration goes on
  return false;
}

void FilterChain::Entry::resetStream(std::string_view reason) {
  chain_.bumpEpoch();
  chain_.stream_.resetStream(reason);
}

FilterChain::FilterChain(FilterChainCallbacks& stream,
                         const std::vector<std::unique_ptr<FilterFactory>>& factories)
    : stream_(stream) {
  entries_.reserve(factories.size());
  for (const auto& factory : factories) {
    auto entry = std::make_unique<Entry>(*this, entries_.size());
    entry->filter = factory->create(*entry);
    if (entry->filter) {
      entries_.push_back(std::move(entry));
    }
  }
}

FilterChain::Result FilterChain::requestHeaders(size_t from, RequestHead& head, bool end_stream,
                                                size_t& stopped_at) {
  const uint64_t epoch = epoch_;
  for (size_t i = from; i < entries_.size(); ++i) {
    FilterStatus status = entries_[i]->filter->onRequestHeaders(head, end_stream);
    if (epoch_ != epoch) {
      return Result::Interrupted;
    }
    if (status == FilterStatus::StopIteration) {
      stopped_at = i;
      return Result::Stopped;
    }
  }
  return Result::Done;
}

void FilterChain::requestData(evbuffer* data, bool end_stream) {
  for (auto& entry : entries_) {
    entry->filter->onRequestData(data, end_stream);
  }
}

void FilterChain::requestTrailers(const HeaderMap& trailers) {
  for (auto& entry : entries_) {
    entry->filter->onRequestTrailers(trailers);
  }
}

FilterChain::Result FilterChain::attemptStart(RequestHead& request) {
  const uint64_t epoch = epoch_;
  for (auto& entry : entries_) {
    FilterStatus status = entry->filter->onAttemptStart(request);
    if (epoch_ != epoch) {
      return Result::Interrupted;
    }
    if (status == FilterStatus::StopIteration) {
      return Result::Stopped;
    }
  }
  return Result::Done;
}

void FilterChain::attemptDone(const AttemptResult& result) {
  for (auto& entry : entries_) {
    entry->filter->onAttemptDone(result);
  }
}

FilterChain::Result FilterChain::responseHeaders(size_t end, ResponseHead& head, bool end_stream) {
  const uint64_t epoch = epoch_;
  for (size_t i = std::min(end, entries_.size()); i-- > 0;) {
    FilterStatus status = entries_[i]->filter->onResponseHeaders(head, end_stream);
    if (epoch_ != epoch) {
      return Result::Interrupted;
    }
    if (status == FilterStatus::StopIteration) {
      return Result::Stopped;
    }
  }
  return Result::Done;
}

void FilterChain::responseData(size_t end, evbuffer* data, bool end_stream) {
  for (size_t i = std::min(end, entries_.size()); i-- > 0;) {
    entries_[i]->filter->onResponseData(data, end_stream);
  }
}

void FilterChain::responseTrailers(size_t end, const HeaderMap& trailers) {
  for (size_t i = std::min(end, entries_.size()); i-- > 0;) {
    entries_[i]->filter->onResponseTrailers(trailers);
  }
}

void FilterChain::streamDone(const StreamInfo& info) {
  for (auto& entry : entries_) {
    entry->filter->onStreamDone(info);
  }
}

} // namespace seawall::proxy
