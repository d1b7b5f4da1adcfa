# Shared by cluster-up.sh and node-up.sh (sourced; both set D, the state directory, and define
# fail). Every process started is recorded in $D/pids with its exact command line in
# $D/<name>.cmd (cluster-restart.sh starts the same process again from it).
start() { # name, then the command; detached so it outlives the script
  local name=$1; shift
  printf '%q ' "$@" > "$D/$name.cmd"
  setsid "$@" >> "$D/$name.log" 2>&1 < /dev/null &
  echo "$name $!" >> "$D/pids"
}
wait_for() { # seconds, description, command...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
