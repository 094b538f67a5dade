//! Command-line types, spelled as runc spells them (callers pass `--flag value` and `--flag=value`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "keel",
    about = "keel: an OCI container runtime (drop-in for runc)",
    disable_version_flag = true
)]
pub struct Cli {
    /// root directory for storage of container state
    #[arg(long, global = true, default_value = "/run/keel")]
    pub root: PathBuf,
    /// set the log file to write keel logs to (default is stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// set the log format ('text' or 'json')
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// enable systemd cgroup support
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// path to an AF_UNIX socket which will receive the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// do not use pivot_root to jail the process inside the rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a container
    Create {
        id: String,
        #[command(flatten)]
        args: CreateArgs,
    },
    /// executes the user defined process in a created container
    Start { id: String },
    /// output the state of a container
    State { id: String },
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill {
        id: String,
        signal: Option<String>,
        /// send the specified signal to all processes inside the container
        #[arg(short = 'a', long)]
        all: bool,
    },
    /// delete any resources held by the container
    Delete {
        id: String,
        /// forcibly delete the container if it is still running (uses SIGKILL)
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// create and run a container
    Run {
        id: String,
        #[command(flatten)]
        args: CreateArgs,
        /// detach from the container's process
        #[arg(short = 'd', long)]
        detach: bool,
        /// do not delete the container after it exits
        #[arg(long)]
        keep: bool,
    },
    /// lists containers started by keel with the given root
    #[command(alias = "ps-all")]
    List {
        /// select one of: table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// display only container IDs
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// create a new specification file
    Spec {
        /// path to the root of the bundle directory
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        /// generate a configuration for a rootless container
        #[arg(long)]
        rootless: bool,
    },
    /// execute new process inside the container
    Exec(Box<ExecArgs>),
    /// ps displays the processes running inside a container
    Ps {
        id: String,
        /// select one of: table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// options for ps (default: -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// pause suspends all processes inside the container
    Pause { id: String },
    /// resume resumes all processes that have been previously paused
    Resume { id: String },
    /// update container resource constraints
    Update(Box<UpdateArgs>),
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events {
        id: String,
        /// display the container's stats then exit
        #[arg(long)]
        stats: bool,
        /// set the stats collection interval
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// show the enabled features
    Features,
}

/// runc's `update` flags. With --resources (a file, or - for stdin) the JSON says it all.
#[derive(Args, Debug, Clone, Default)]
pub struct UpdateArgs {
    pub id: String,
    /// path to the file containing the resources to update or '-' to read from the standard input
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-rt-runtime", allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long = "kernel-memory-tcp")]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (in bytes)
    #[arg(long, allow_negative_numbers = true)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation", allow_negative_numbers = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// The string of Intel RDT/CAT L3 cache schema
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// path to the process.json
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// path to an AF_UNIX socket which will receive the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// run the process in an existing sub-cgroup of the container: [CONTROLLER:]PATH
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// the command and its arguments (unless --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}
