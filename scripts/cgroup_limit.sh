# Sourced by scripts/scale.sh and scripts/scale_gbdt.sh: the cgroup v1 memory
# limit (page cache included; a process over it is killed) every scale run goes
# under, and GNU time for peak RSS. Set LIMIT (bytes) before sourcing.
# As root on cgroup v1 (these machines); elsewhere runs go unlimited and say so.
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq time >/dev/null || { echo "scale: GNU time (Debian package 'time') is needed" >&2; exit 1; }; }
CG=/sys/fs/cgroup/memory/quarry-scale
if [ -w /sys/fs/cgroup/memory ]; then
  mkdir -p "$CG"
  echo "$LIMIT" > "$CG/memory.limit_in_bytes"
  LIMITED=1
else
  echo "scale: no writable cgroup v1 memory controller; running WITHOUT the memory limit" >&2
  LIMITED=0
fi
# Runs "$@" inside the cgroup (the shell joins it, then execs the command).
limited() {
  if [ "$LIMITED" = 1 ]; then
    sh -c 'echo $$ > '"$CG"'/cgroup.procs && exec "$@"' sh "$@"
  else
    "$@"
  fi
}
