// The Kubernetes deployment (deploy/): every kustomize overlay renders; every Deployment and
// Service survives a typed round trip through kubectl offline (a field kubectl's API types do not
// know is dropped, and reported); the pod spec keeps its guarantees (native sidecar, probes,
// preStop, resources, hardened securityContext, config mount, scrape annotations); each
// ConfigMap's seawall.yaml passes `seawall --validate` and agrees with the manifests; the iptables
// script passes sh -n (and shellcheck when installed) and prints the rules it would apply; and,
// opt-in (SEAWALL_TEST_CONTAINER=1, it takes minutes), the Containerfile builds.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "tests/harness/command.h"
#include "tests/harness/seawall_process.h"

namespace seawall::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

std::string deployDir() { return std::string(SEAWALL_SOURCE_DIR) + "/deploy"; }
std::string scriptPath() { return deployDir() + "/iptables/seawall-redirect.sh"; }

bool haveProgram(const std::string& name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment on the main thread
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    dir.append("/").append(name);
    if (dir.size() > name.size() + 1 && ::access(dir.c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

// kubectl >= 1.29 (native sidecars in its API types, kustomize v5), or a reason why not.
std::string kubectlProblem() {
  if (!haveProgram("kubectl")) {
    return "kubectl not found: install kubectl >= 1.29 (Debian 12's kubernetes-client is 1.20, "
           "too old for native sidecars)";
  }
  auto r = runCommand({"kubectl", "version", "--client", "-o", "yaml"}, seconds(30));
  YAML::Node v;
  try {
    v = YAML::Load(r.out);
  } catch (const YAML::Exception&) {
    return "cannot read `kubectl version --client` output: " + r.err;
  }
  const std::string minor = v["clientVersion"]["minor"].as<std::string>("0");
  if (v["clientVersion"]["major"].as<std::string>("") != "1" || std::atoi(minor.c_str()) < 29) {
    return "kubectl " + v["clientVersion"]["gitVersion"].as<std::string>("?") +
           " is older than 1.29 (no native sidecars in its API types)";
  }
  return "";
}

#define SKIP_WITHOUT_KUBECTL()                                                                     \
  do {                                                                                             \
    const std::string problem = kubectlProblem();                                                  \
    if (!problem.empty()) {                                                                        \
      GTEST_SKIP() << "SKIPPED (deploy manifests not checked): " << problem;                       \
    }                                                                                              \
  } while (false)

struct Rendered {
  std::string dir;                // relative to deploy/
  std::vector<std::string> texts; // one YAML document each, as kustomize printed it
  std::vector<YAML::Node> docs;
};

// deploy/base and every deploy/overlays/*.
std::vector<std::string> kustomizations() {
  std::vector<std::string> dirs = {"base"};
  for (const auto& e : fs::directory_iterator(deployDir() + "/overlays")) {
    if (e.is_directory()) {
      dirs.push_back("overlays/" + e.path().filename().string());
    }
  }
  std::sort(dirs.begin() + 1, dirs.end());
  return dirs;
}

// Splits kustomize's output on its "---" lines.
std::vector<std::string> splitDocuments(const std::string& text) {
  std::vector<std::string> out(1);
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line == "---") {
      out.emplace_back();
    } else {
      out.back() += line + "\n";
    }
  }
  std::erase_if(out, [](const std::string& d) { return d.find_first_not_of(" \n") == d.npos; });
  return out;
}

Rendered render(const std::string& dir) {
  Rendered r{dir, {}, {}};
  auto res = runCommand({"kubectl", "kustomize", deployDir() + "/" + dir}, seconds(60));
  EXPECT_EQ(res.exit_code, 0) << "kubectl kustomize deploy/" << dir << ": " << res.err;
  r.texts = splitDocuments(res.out);
  for (const auto& t : r.texts) {
    r.docs.push_back(YAML::Load(t));
  }
  return r;
}

std::vector<YAML::Node> ofKind(const Rendered& r, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& d : r.docs) {
    if (d["kind"].as<std::string>("") == kind) {
      out.push_back(d);
    }
  }
  return out;
}

YAML::Node findNamed(const YAML::Node& list, const std::string& name) {
  for (size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
    if (list[i]["name"].as<std::string>("") == name) {
      return list[i];
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// Every key path of a document (".spec.template.spec.containers[0].name"), leaving out leaves
// whose value is empty or zero: the API types omit those when encoding, and rightly so.
void keyPaths(const YAML::Node& n, const std::string& at, std::set<std::string>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n) {
      const YAML::Node& v = kv.second;
      const bool zero =
          v.IsNull() ||
          (v.IsScalar() && (v.Scalar().empty() || v.Scalar() == "0" || v.Scalar() == "false")) ||
          (!v.IsScalar() && v.size() == 0);
      const std::string path = at + "." + kv.first.as<std::string>();
      if (!zero) {
        out.insert(path);
      }
      keyPaths(v, path, out);
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) {
      keyPaths(n[i], at + "[" + std::to_string(i) + "]", out);
    }
  }
}

// Decodes `text` into kubectl's API types and back (an offline `kubectl set`, which changes
// nothing that was there); returns the key paths that did not survive, or a failure message.
std::vector<std::string> typedRoundTripLosses(const std::string& text) {
  const YAML::Node doc = YAML::Load(text);
  const std::string kind = doc["kind"].as<std::string>("");
  std::vector<std::string> argv;
  if (kind == "Service") {
    std::string selector;
    for (const auto& kv : doc["spec"]["selector"]) {
      selector += (selector.empty() ? "" : ",") + kv.first.as<std::string>() + "=" +
                  kv.second.as<std::string>();
    }
    argv = {"kubectl", "set", "selector", "--local", "-f", "-", "-o", "yaml", selector};
  } else {
    argv = {"kubectl", "set", "env", "--local", "-f", "-", "-o", "yaml", "SEAWALL_ROUND_TRIP=1"};
  }
  auto r = runCommand(argv, seconds(60), text);
  if (r.exit_code != 0) {
    return {"kubectl could not decode the " + kind + ": " + r.err};
  }
  std::set<std::string> before;
  std::set<std::string> after;
  keyPaths(doc, "", before);
  keyPaths(YAML::Load(r.out), "", after);
  std::vector<std::string> lost;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(lost));
  return lost;
}

// "15s", "500ms", "2m" -> whole seconds, rounded up; -1 if unreadable.
int durationSeconds(const std::string& d) {
  const size_t unit = d.find_first_not_of("0123456789.");
  if (unit == 0 || unit == std::string::npos) {
    return -1;
  }
  const double v = std::atof(d.substr(0, unit).c_str());
  const std::string u = d.substr(unit);
  const double s = u == "ms"  ? v / 1000
                   : u == "s" ? v
                   : u == "m" ? v * 60
                   : u == "h" ? v * 3600
                              : -1;
  return s < 0 ? -1 : static_cast<int>(s + 0.999);
}

// The Seawall config embedded in the rendered ConfigMap that the sidecar mounts.
YAML::Node sidecarConfig(const Rendered& r, const YAML::Node& pod_spec) {
  const std::string cm_name =
      findNamed(pod_spec["volumes"], "seawall-config")["configMap"]["name"].as<std::string>("");
  for (const auto& cm : ofKind(r, "ConfigMap")) {
    if (cm["metadata"]["name"].as<std::string>("") == cm_name && cm["data"]["seawall.yaml"]) {
      return YAML::Load(cm["data"]["seawall.yaml"].as<std::string>());
    }
  }
  ADD_FAILURE() << r.dir << ": no ConfigMap '" << cm_name << "' with key seawall.yaml";
  return YAML::Node(YAML::NodeType::Undefined);
}

// What every container must have: requests and limits, and a locked-down securityContext.
void expectHardened(const YAML::Node& c, const std::string& where) {
  for (const char* part : {"requests", "limits"}) {
    for (const char* res : {"cpu", "memory"}) {
      EXPECT_TRUE(c["resources"][part][res].IsDefined())
          << where << ": resources." << part << "." << res;
    }
  }
  const YAML::Node sc = c["securityContext"];
  EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>(false)) << where;
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true)) << where;
  EXPECT_EQ(sc["seccompProfile"]["type"].as<std::string>(""), "RuntimeDefault") << where;
  EXPECT_EQ(sc["capabilities"]["drop"][0].as<std::string>(""), "ALL") << where;
}

void expectHttpProbe(const YAML::Node& probe, const std::string& path, const std::string& port,
                     const std::string& where) {
  EXPECT_EQ(probe["httpGet"]["path"].as<std::string>(""), path) << where;
  EXPECT_EQ(probe["httpGet"]["port"].as<std::string>(""), port) << where;
}

// The Seawall sidecar: a native sidecar with its probes, drain hook, limits and config mount.
void expectSeawallSidecar(const YAML::Node& s, const std::string& where) {
  EXPECT_EQ(s["restartPolicy"].as<std::string>(""), "Always") << where << ": not a native sidecar";
  EXPECT_EQ(findNamed(s["ports"], "admin")["containerPort"].as<int>(0), 9901) << where;
  expectHttpProbe(s["startupProbe"], "/ready", "admin", where + " startupProbe");
  expectHttpProbe(s["readinessProbe"], "/ready", "admin", where + " readinessProbe");
  expectHttpProbe(s["livenessProbe"], "/healthz", "admin", where + " livenessProbe");
  EXPECT_TRUE(s["lifecycle"]["preStop"].IsMap()) << where << ": no preStop";
  expectHardened(s, where);
  EXPECT_TRUE(s["securityContext"]["runAsNonRoot"].as<bool>(false)) << where;
  EXPECT_EQ(s["securityContext"]["runAsUser"].as<int>(0), 1337) << where;
  const YAML::Node mount = findNamed(s["volumeMounts"], "seawall-config");
  EXPECT_EQ(mount["mountPath"].as<std::string>(""), "/etc/seawall") << where;
  EXPECT_TRUE(mount["readOnly"].as<bool>(false)) << where;
}

// The app containers: probes, a drain hook, limits, non-root, and never Seawall's uid (whose
// traffic the transparent mode's iptables rules let through unredirected).
void expectAppContainers(const YAML::Node& containers, const std::string& where) {
  ASSERT_GE(containers.size(), 1U) << where;
  for (const auto& c : containers) {
    const std::string w = where + " container " + c["name"].as<std::string>("?");
    EXPECT_TRUE(c["readinessProbe"].IsMap()) << w;
    EXPECT_TRUE(c["livenessProbe"].IsMap()) << w;
    EXPECT_TRUE(c["lifecycle"]["preStop"].IsMap()) << w;
    expectHardened(c, w);
    EXPECT_TRUE(c["securityContext"]["runAsNonRoot"].as<bool>(false)) << w;
    EXPECT_NE(c["securityContext"]["runAsUser"].as<int>(1337), 1337) << w;
  }
}

// Plain init containers (the iptables one): before the sidecar, hardened; root only with
// NET_ADMIN and NET_RAW added, nothing else.
void expectPlainInit(const YAML::Node& c, const std::string& where) {
  expectHardened(c, where);
  EXPECT_FALSE(c["readinessProbe"].IsDefined() || c["livenessProbe"].IsDefined()) << where;
  for (const auto& cap : c["securityContext"]["capabilities"]["add"]) {
    const std::string name = cap.as<std::string>();
    EXPECT_TRUE(name == "NET_ADMIN" || name == "NET_RAW") << where << ": adds " << name;
  }
}

// The pod's other guarantees: drain fits the grace period, scrape annotations, transparent-mode
// settings agree with Seawall's config.
void expectPodAgreesWithConfig(const YAML::Node& tmpl, const YAML::Node& config,
                               const std::string& where) {
  const YAML::Node spec = tmpl["spec"];
  const int drain = durationSeconds(config["drain_timeout"].as<std::string>("15s"));
  int pre_stop = 0;
  for (const auto& c : spec["containers"]) {
    pre_stop = std::max(pre_stop, c["lifecycle"]["preStop"]["sleep"]["seconds"].as<int>(0));
  }
  EXPECT_GT(spec["terminationGracePeriodSeconds"].as<int>(30), drain + pre_stop) << where;
  EXPECT_EQ(tmpl["metadata"]["annotations"]["prometheus.io/scrape"].as<std::string>(""), "true");
  EXPECT_EQ(tmpl["metadata"]["annotations"]["prometheus.io/port"].as<std::string>(""), "9901");
  EXPECT_EQ(config["admin"]["address"].as<std::string>(""), "0.0.0.0:9901")
      << where << ": the kubelet probes the admin port on the pod IP";
  const YAML::Node redirect = findNamed(spec["initContainers"], "seawall-redirect");
  if (!redirect.IsDefined()) {
    return;
  }
  const YAML::Node listener = config["listeners"][0];
  EXPECT_TRUE(listener["transparent"].as<bool>(false)) << where;
  const std::string port =
      findNamed(redirect["env"], "SEAWALL_PROXY_PORT")["value"].as<std::string>("");
  EXPECT_EQ("127.0.0.1:" + port, listener["address"].as<std::string>("")) << where;
  EXPECT_EQ(findNamed(redirect["env"], "SEAWALL_PROXY_UID")["value"].as<std::string>(""), "1337");
}

TEST(DeployManifests, EveryOverlayRenders) {
  SKIP_WITHOUT_KUBECTL();
  const auto dirs = kustomizations();
  EXPECT_NE(std::find(dirs.begin(), dirs.end(), "overlays/example"), dirs.end());
  EXPECT_NE(std::find(dirs.begin(), dirs.end(), "overlays/transparent"), dirs.end());
  for (const auto& dir : dirs) {
    const Rendered r = render(dir);
    EXPECT_EQ(ofKind(r, "Deployment").size(), 1U) << dir;
    EXPECT_EQ(ofKind(r, "Service").size(), 1U) << dir;
    EXPECT_EQ(ofKind(r, "ConfigMap").size(), 1U) << dir;
    for (const auto& d : r.docs) {
      EXPECT_TRUE(d["apiVersion"].IsScalar() && d["metadata"]["name"].IsScalar()) << dir;
    }
  }
}

TEST(DeployManifests, DeploymentsAndServicesSurviveATypedRoundTrip) {
  SKIP_WITHOUT_KUBECTL();
  int checked = 0;
  for (const auto& dir : kustomizations()) {
    const Rendered r = render(dir);
    for (size_t i = 0; i < r.docs.size(); ++i) {
      const std::string kind = r.docs[i]["kind"].as<std::string>("");
      if (kind != "Deployment" && kind != "Service") {
        continue;
      }
      const auto lost = typedRoundTripLosses(r.texts[i]);
      std::string list;
      for (const auto& p : lost) {
        list += "\n  " + p;
      }
      EXPECT_TRUE(lost.empty()) << dir << " " << kind << ": unknown to the API types:" << list;
      ++checked;
    }
  }
  EXPECT_GE(checked, 6);
}

TEST(DeployManifests, RoundTripCatchesAMisspelledField) {
  SKIP_WITHOUT_KUBECTL();
  const Rendered r = render("base");
  for (size_t i = 0; i < r.docs.size(); ++i) {
    if (r.docs[i]["kind"].as<std::string>("") == "Deployment") {
      std::string text = r.texts[i];
      const size_t at = text.find("readinessProbe:");
      ASSERT_NE(at, std::string::npos);
      text.replace(at, 15, "readinesProbe:");
      const auto lost = typedRoundTripLosses(text);
      ASSERT_FALSE(lost.empty());
      EXPECT_NE(lost.front().find("readinesProbe"), std::string::npos) << lost.front();
    }
  }
}

TEST(DeployManifests, PodSpecKeepsItsGuarantees) {
  SKIP_WITHOUT_KUBECTL();
  for (const auto& dir : kustomizations()) {
    const Rendered r = render(dir);
    for (const auto& dep : ofKind(r, "Deployment")) {
      const YAML::Node tmpl = dep["spec"]["template"];
      const YAML::Node inits = tmpl["spec"]["initContainers"];
      ASSERT_TRUE(inits.IsSequence()) << dir;
      bool sidecar_seen = false;
      for (const auto& c : inits) {
        const std::string where = dir + " initContainer " + c["name"].as<std::string>("?");
        if (c["name"].as<std::string>("") == "seawall") {
          expectSeawallSidecar(c, where);
          sidecar_seen = true;
        } else {
          EXPECT_FALSE(sidecar_seen) << where << ": must come before the sidecar";
          expectPlainInit(c, where);
        }
      }
      EXPECT_TRUE(sidecar_seen) << dir << ": no seawall sidecar";
      expectAppContainers(tmpl["spec"]["containers"], dir);
      EXPECT_TRUE(tmpl["spec"]["securityContext"]["runAsNonRoot"].as<bool>(false)) << dir;
      expectPodAgreesWithConfig(tmpl, sidecarConfig(r, tmpl["spec"]), dir);
    }
  }
}

TEST(DeployManifests, ServiceAndPodMonitorSelectThePods) {
  SKIP_WITHOUT_KUBECTL();
  for (const auto& dir : kustomizations()) {
    const Rendered r = render(dir);
    const auto deps = ofKind(r, "Deployment");
    ASSERT_EQ(deps.size(), 1U) << dir;
    const YAML::Node labels = deps[0]["spec"]["template"]["metadata"]["labels"];
    const YAML::Node app = deps[0]["spec"]["template"]["spec"]["containers"][0];
    for (const auto& svc : ofKind(r, "Service")) {
      for (const auto& kv : svc["spec"]["selector"]) {
        EXPECT_EQ(labels[kv.first.as<std::string>()].as<std::string>(""),
                  kv.second.as<std::string>())
            << dir << ": Service selector";
      }
      const std::string target = svc["spec"]["ports"][0]["targetPort"].as<std::string>("");
      EXPECT_TRUE(findNamed(app["ports"], target).IsDefined()) << dir << ": targetPort " << target;
    }
    for (const auto& pm : ofKind(r, "PodMonitor")) {
      EXPECT_EQ(pm["apiVersion"].as<std::string>(""), "monitoring.coreos.com/v1") << dir;
      for (const auto& kv : pm["spec"]["selector"]["matchLabels"]) {
        EXPECT_EQ(labels[kv.first.as<std::string>()].as<std::string>(""),
                  kv.second.as<std::string>())
            << dir << ": PodMonitor selector";
      }
      EXPECT_EQ(pm["spec"]["podMetricsEndpoints"][0]["port"].as<std::string>(""), "admin") << dir;
      EXPECT_EQ(pm["spec"]["podMetricsEndpoints"][0]["path"].as<std::string>(""), "/metrics")
          << dir;
    }
  }
}

// `seawall --validate` on the seawall.yaml of every ConfigMap that `dir` renders.
int validateConfigMaps(const std::string& dir) {
  int validated = 0;
  const Rendered r = render(dir);
  for (const auto& cm : ofKind(r, "ConfigMap")) {
    EXPECT_TRUE(cm["data"]["seawall.yaml"].IsScalar()) << dir;
    auto v = validateConfig(cm["data"]["seawall.yaml"].as<std::string>(""), "seawall.yaml");
    EXPECT_EQ(v.exit_code, 0) << "deploy/" << dir << " seawall.yaml: " << v.err;
    ++validated;
  }
  return validated;
}

TEST(DeployManifests, ConfigMapConfigsValidate) {
  SKIP_WITHOUT_KUBECTL();
  int validated = 0;
  for (const auto& dir : kustomizations()) {
    if (dir != "overlays/transparent") { // its own test below
      validated += validateConfigMaps(dir);
    }
  }
  EXPECT_GE(validated, 2);
}

TEST(DeployManifests, TransparentConfigValidates) {
  SKIP_WITHOUT_KUBECTL();
  EXPECT_EQ(validateConfigMaps("overlays/transparent"), 1);
}

TEST(DeployScript, PassesShellChecks) {
  auto n = runCommand({"sh", "-n", scriptPath()}, seconds(30));
  EXPECT_EQ(n.exit_code, 0) << n.err;
  if (haveProgram("dash")) {
    auto d = runCommand({"dash", "-n", scriptPath()}, seconds(30));
    EXPECT_EQ(d.exit_code, 0) << d.err;
  }
  if (!haveProgram("shellcheck")) {
    std::cerr << "NOTE: shellcheck not found (Debian package: shellcheck); only sh -n ran\n";
    return;
  }
  auto sc = runCommand({"shellcheck", "-s", "sh", scriptPath()}, seconds(60));
  EXPECT_EQ(sc.exit_code, 0) << sc.out << sc.err;
}

TEST(DeployScript, DryRunPrintsTheRulesInOrder) {
  auto r = runCommand({"sh", scriptPath(), "--dry-run", "--proxy-port", "15001", "--exclude-ports",
                       "53,8000:8100", "--exclude-cidrs", "10.96.0.0/12"},
                      seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> want = {
      "iptables -t nat -N SEAWALL_OUTPUT",
      "-A SEAWALL_OUTPUT -m owner --uid-owner 1337 -j RETURN",
      "-A SEAWALL_OUTPUT -d 127.0.0.0/8 -j RETURN",
      "-A SEAWALL_OUTPUT -d 10.96.0.0/12 -j RETURN",
      "-A SEAWALL_OUTPUT -p tcp --dport 53 -j RETURN",
      "-A SEAWALL_OUTPUT -p tcp --dport 8000:8100 -j RETURN",
      "-A SEAWALL_OUTPUT -p tcp -j REDIRECT --to-ports 15001",
      "-A OUTPUT -p tcp -j SEAWALL_OUTPUT",
  };
  size_t from = 0;
  for (const auto& w : want) {
    const size_t at = r.out.find(w, from);
    ASSERT_NE(at, std::string::npos) << "missing or out of order: " << w << "\n" << r.out;
    from = at + w.size();
  }
  auto only =
      runCommand({"sh", scriptPath(), "--dry-run", "--include-ports", "80,8080"}, seconds(30));
  EXPECT_NE(only.out.find("--dport 8080 -j REDIRECT --to-ports 15001"), std::string::npos);
  EXPECT_EQ(only.out.find("-p tcp -j REDIRECT"), std::string::npos) << only.out;
  auto clean = runCommand({"sh", scriptPath(), "--dry-run", "--cleanup"}, seconds(30));
  EXPECT_EQ(clean.exit_code, 0);
  EXPECT_NE(clean.out.find("-X SEAWALL_OUTPUT"), std::string::npos) << clean.out;
}

TEST(DeployScript, RejectsBadArguments) {
  const std::vector<std::vector<std::string>> bad = {{"--proxy-port", "0"},
                                                     {"--proxy-port", "70000"},
                                                     {"--exclude-ports", "22x"},
                                                     {"--exclude-ports", "90:80"},
                                                     {"--exclude-cidrs", "10.0.0.0/33"},
                                                     {"--proxy-uid", ","},
                                                     {"--bogus"},
                                                     {"--proxy-port"}};
  for (const auto& args : bad) {
    std::vector<std::string> argv = {"sh", scriptPath(), "--dry-run"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv, seconds(30));
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << (args.size() > 1 ? args[1] : "");
    EXPECT_NE(r.err.find("seawall-redirect: error:"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("REDIRECT"), std::string::npos) << "printed rules anyway: " << r.out;
  }
}

// Builds the image (its runtime stage runs `seawall --validate`, so a missing runtime library
// fails the build) and checks that it runs as 1337. Chroot isolation: it works where nested
// containers cannot be created (CI inside a container), and a build needs no more.
TEST(DeployContainer, BuildsWithBuildahOrPodman) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment on the main thread
  const char* opt_in = std::getenv("SEAWALL_TEST_CONTAINER");
  if (opt_in == nullptr || std::string(opt_in) != "1") {
    GTEST_SKIP() << "SKIPPED: the container build takes minutes; SEAWALL_TEST_CONTAINER=1 runs it";
  }
  const std::string tool = haveProgram("buildah")  ? "buildah"
                           : haveProgram("podman") ? "podman"
                                                   : "";
  if (tool.empty()) {
    GTEST_SKIP() << "SKIPPED: neither buildah nor podman found (Debian packages: buildah, podman)";
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment on the main thread
  const char* base = std::getenv("SEAWALL_TEST_BASE_IMAGE"); // e.g. a local Debian 12 image
  const std::string tag = "localhost/seawall-deploy-test:latest";
  std::vector<std::string> argv = {
      tool, "build", "--isolation=chroot",      "-f", deployDir() + "/Containerfile",
      "-t", tag,     "--build-arg=BUILD_JOBS=2"};
  if (base != nullptr) {
    argv.push_back("--build-arg=DEBIAN_IMAGE=" + std::string(base));
  }
  argv.emplace_back(SEAWALL_SOURCE_DIR);
  auto r = runCommand(argv, std::chrono::minutes(40));
  if (r.exit_code != 0 && (r.err.find("pinging container registry") != std::string::npos ||
                           r.err.find("no such host") != std::string::npos)) {
    GTEST_SKIP() << "SKIPPED: " << tool << " cannot pull the base image (no registry access; set "
                 << "SEAWALL_TEST_BASE_IMAGE to a local Debian 12 image): " << r.err.substr(0, 300);
  }
  ASSERT_EQ(r.exit_code, 0) << r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0) << r.err;
  const std::string format = tool == "buildah" ? "{{.OCIv1.Config.User}}" : "{{.Config.User}}";
  auto user = runCommand({tool, "inspect", "--type", "image", "--format", format, tag});
  EXPECT_EQ(user.out.substr(0, user.out.find_last_not_of(" \n") + 1), "1337:1337") << user.err;
  runCommand({tool, "rmi", "-f", tag}, std::chrono::minutes(2));
}

} // namespace
} // namespace seawall::test
