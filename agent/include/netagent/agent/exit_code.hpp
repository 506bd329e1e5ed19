#pragma once
// netagent's exit codes: each start-up failure has its own, so that scripts and supervisors can
// tell "fix the flags" from "run it as root" from "another agent is running".
namespace netagent::agent {

inline constexpr int kExitOk = 0;         // clean shutdown (SIGTERM/SIGINT), --help, --version
inline constexpr int kExitFailed = 1;     // a part failed to start, or a fatal runtime error
inline constexpr int kExitBadConfig = 2;  // bad flag, config file or setting value
inline constexpr int kExitNoPrivilege =
    3;                                   // not root / missing CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN
inline constexpr int kExitNoDevice = 4;  // a --devices interface does not exist here
inline constexpr int kExitNoManifests = 5;     // the --manifests directory does not exist
inline constexpr int kExitAlreadyRunning = 6;  // the API socket is in use by a live agent
inline constexpr int kExitHostSetup = 7;       // bpffs, cgroup v2, directories or listeners failed

}  // namespace netagent::agent
