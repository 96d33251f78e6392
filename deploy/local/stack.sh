#!/usr/bin/env bash
# Starts the embedded stack (Kafka KRaft + PostgreSQL 17, no Docker) as one background process and
# waits until both are up; prints the environment to use them. Needs the CLI jar:
#   ./mvnw -B -q -pl cli -am package -DskipTests      (builds cli/target/partwright.jar)
#
#   deploy/local/stack.sh start   # writes $TMPDIR/partwright-stack.env (PARTWRIGHT_STACK_ENV), prints it
#   source /tmp/partwright-stack.env  # PARTWRIGHT_KAFKA_BOOTSTRAP, PARTWRIGHT_DB_URL, ...
#   deploy/local/stack.sh stop
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
jar="${PARTWRIGHT_JAR:-$root/cli/target/partwright.jar}"
env_file="${PARTWRIGHT_STACK_ENV:-${TMPDIR:-/tmp}/partwright-stack.env}"
pid_file="${env_file%.env}.pid"
log_file="${env_file%.env}.log"

start() {
  if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "already running (pid $(cat "$pid_file")):" >&2
    cat "$env_file"
    return 0
  fi
  [[ -f "$jar" ]] || { echo "no $jar: build it with ./mvnw -B -q -pl cli -am package -DskipTests" >&2; exit 2; }
  rm -f "$env_file"
  nohup java -cp "$jar" dev.partwright.embedded.EmbeddedStackMain --env-file "$env_file" >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 120); do
    if [[ -f "$env_file" ]]; then
      cat "$env_file"
      echo "# source $env_file; stop with: $0 stop" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "the stack did not start:" >&2
      tail -20 "$log_file" >&2
      rm -f "$pid_file"
      exit 3
    fi
    sleep 1
  done
  echo "the stack did not start within 120 s (log: $log_file)" >&2
  stop
  exit 3
}

stop() {
  if [[ -f "$pid_file" ]]; then
    pid="$(cat "$pid_file")"
    # SIGTERM: the stack's shutdown hook stops both servers and deletes their files
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    rm -f "$pid_file"
  fi
  rm -f "$env_file"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null && cat "$env_file" || { echo "not running"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
