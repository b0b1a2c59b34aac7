// The job endpoints of 202 conversion, answered by any listener on any worker:
//   GET    /.seawall/jobs/<id>         200 {"state": "PROCESSING" | "FAILED", ...} + Retry-After,
//                                      or 303 See Other to .../result once COMPLETED
//   GET    /.seawall/jobs/<id>/result  the upstream's response as it was
//   DELETE /.seawall/jobs/<id>         204: cancelled, the upstream call aborted
// Unknown or expired ids: 404. The job store is shared by the workers (proxy/runtime.h).
#include <string>
#include <utility>
#include <vector>

#include "filters/async_202/job_store.h"
#include "proxy/router.h"
#include "proxy/runtime.h"
#include "proxy/stream.h"
#include "proxy/worker.h"

namespace seawall::proxy {
namespace {

using filters::async_202::JobState;
using filters::async_202::JobView;
using filters::async_202::StoreStatus;

std::string jsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string statusDocument(const JobView& job, const std::string& url) {
  std::string body = "{\"id\":\"" + job.id + "\",\"state\":\"" +
                     std::string(filters::async_202::toString(job.state)) + "\",\"status_url\":\"" +
                     url + "\"";
  if (job.state == JobState::Completed) {
    body += ",\"result_url\":\"" + url + "/result\"";
  }
  if (job.state == JobState::Failed) {
    body += ",\"reason\":\"" + jsonEscape(job.failure_reason) + "\"";
  }
  body +=
      ",\"method\":\"" + jsonEscape(job.method) + "\",\"path\":\"" + jsonEscape(job.path) + "\"}\n";
  return body;
}

} // namespace

void Stream::answerJob(int status, std::string content_type, std::string body,
                       const std::vector<std::pair<std::string, std::string>>& headers) {
  ResponseHead head;
  head.status = status;
  if (!content_type.empty()) {
    head.headers.add("content-type", std::move(content_type));
  }
  for (const auto& [name, value] : headers) {
    head.headers.add(name, value);
  }
  head.headers.add("cache-control", "no-store");
  sendLocalResponse(0, std::move(head), std::move(body), ResponseSource::Filter);
}

void Stream::answerStoreUnavailable() {
  answerJob(503, "text/plain", "async job store is unavailable\n",
            {{"retry-after", "1"}, {"x-seawall-reason", "async-store-unavailable"}});
}

// The route's `retry_after` for polls of a pending job: the route this listener gives the job's
// method and path (the job was made by it, in the usual one-listener sidecar); 1s otherwise.
int64_t Stream::pollRetryAfter(const JobView& job) const {
  RequestHead probe;
  probe.method = job.method;
  probe.path = job.path;
  const config::Route* route = matchRoute(listener_config_.routes, probe);
  return route != nullptr && route->async ? route->async->retryAfterSeconds() : 1;
}

void Stream::handleJobRequest() {
  std::string_view rest = std::string_view(request_.path).substr(kJobPathPrefix.size());
  rest = rest.substr(0, rest.find('?'));
  bool result = false;
  if (rest.ends_with("/result")) {
    result = true;
    rest.remove_suffix(std::string_view("/result").size());
  }
  const std::string id(rest);
  reason_ = "job-endpoint";
  const bool get = request_.method == "GET";
  const bool del = request_.method == "DELETE" && !result;
  if (!get && !del) {
    answerJob(405, "text/plain", "method not allowed on a job URL\n",
              {{"allow", result ? "GET" : "GET, DELETE"}});
    return;
  }
  if (!filters::async_202::isJobId(id)) {
    answerJob(404, "text/plain", "unknown job\n");
    return;
  }
  if (del) {
    cancelJobRequest(id);
    return;
  }
  const std::string url = std::string(kJobPathPrefix) + id;
  generation_->runtime->jobStore().get(
      std::chrono::system_clock::now(), id,
      [this, alive = aliveToken(), result, url](StoreStatus status,
                                                const std::optional<JobView>& job) {
        if (alive.expired()) {
          return; // the poller went away before a networked store answered
        }
        if (status == StoreStatus::Unavailable) {
          answerStoreUnavailable();
        } else if (!job) {
          answerJob(404, "text/plain", "unknown job\n");
        } else if (result) {
          answerJobResult(*job, url);
        } else {
          answerJobStatus(*job, url);
        }
      });
}

void Stream::cancelJobRequest(const std::string& id) {
  // The jobs are the process's; a shared_ptr keeps them for answers that come late.
  std::shared_ptr<AsyncJobs> jobs = generation_->runtime->jobs();
  std::weak_ptr<bool> alive = aliveToken();
  jobs->store().cancel(
      std::chrono::system_clock::now(), id, [this, alive, jobs, id](StoreStatus status, bool done) {
        if (done) {
          jobs->abortRunning(id); // another replica aborts its own (remote cancel)
        }
        if (alive.expired()) {
          return;
        }
        if (status == StoreStatus::Unavailable) {
          answerStoreUnavailable();
          return;
        }
        if (done) {
          answerJob(204, "", "");
          return;
        }
        jobs->store().get(std::chrono::system_clock::now(), id,
                          [this, alive](StoreStatus found, const std::optional<JobView>& job) {
                            if (alive.expired()) {
                              return;
                            }
                            if (found == StoreStatus::Unavailable) {
                              answerStoreUnavailable();
                            } else if (job) {
                              answerJob(409, "text/plain", "job already finished\n");
                            } else {
                              answerJob(404, "text/plain", "unknown job\n");
                            }
                          });
      });
}

void Stream::answerJobStatus(const JobView& job, const std::string& url) {
  if (job.state == JobState::Completed) {
    answerJob(303, "application/json", statusDocument(job, url), {{"location", url + "/result"}});
  } else if (job.state == JobState::Processing) {
    answerJob(200, "application/json", statusDocument(job, url),
              {{"retry-after", std::to_string(pollRetryAfter(job))}});
  } else {
    answerJob(200, "application/json", statusDocument(job, url));
  }
}

void Stream::answerJobResult(const JobView& job, const std::string& url) {
  if (job.state != JobState::Completed || !job.result) {
    answerJob(409, "application/json", statusDocument(job, url));
    return;
  }
  const filters::async_202::JobResult& r = *job.result;
  ResponseHead head;
  head.status = r.status;
  for (const auto& [name, value] : r.headers) {
    head.headers.add(name, value);
  }
  if (r.trailers.empty()) {
    sendLocalResponse(0, std::move(head), r.body, ResponseSource::Filter);
    return;
  }
  sendDownstreamHeaders(std::move(head), false);
  if (!r.body.empty() && downstream_ != nullptr) {
    EvBufferPtr buf = makeEvBuffer();
    evbuffer_add(buf.get(), r.body.data(), r.body.size());
    bytes_out_ += r.body.size();
    sendDownstreamData(buf.get(), false);
  }
  if (downstream_ != nullptr) {
    HeaderMap trailers;
    for (const auto& [name, value] : r.trailers) {
      trailers.add(name, value);
    }
    sendDownstreamTrailers(std::move(trailers));
  }
  maybeFinish();
}

} // namespace seawall::proxy
