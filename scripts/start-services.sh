#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 (trust auth for local TCP, database `test`) and
# Redis on 127.0.0.1:6379 (the job queue of the scaled-out mode).  CI and the development
# machines already run both; on a fresh machine this installs and starts them.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null || ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! as_root grep -q "moorage-tests" "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust # moorage-tests\nhost all all ::1/128 trust # moorage-tests' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart || as_root pg_ctlcluster "$version" main start
  for _ in $(seq 50); do pg_up && break; sleep 0.2; done
fi
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  redis_up || redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 50); do redis_up && break; sleep 0.2; done
fi
