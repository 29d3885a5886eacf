#!/bin/sh
# rekor-local.sh start|stop DIR: a real Rekor v1 on loopback for the anchoring
# tests, with no container and no cloud: PostgreSQL (Debian's postgresql) for
# Trillian's storage, Trillian's log server and signer, and rekor-server, all
# built from their releases (trillian v1.7.3, rekor v1.5.4) into
# $KEYCEREMONY_TOOLS (default ~/.cache/keyceremony-tools/bin). Rekor listens on
# 127.0.0.1:$REKOR_PORT (default 3000); it also opens its metrics port :2112,
# which it does not let anyone configure.
set -eu
cmd=$1 dir=$2
tools=${KEYCEREMONY_TOOLS:-$HOME/.cache/keyceremony-tools/bin}
port=${REKOR_PORT:-3000}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
case $cmd in
stop)
	for p in rekor signer server; do
		[ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
	done
	sleep 0.5
	for p in rekor signer server; do
		[ -f "$dir/$p.pid" ] && kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true
	done
	[ -d "$dir/pg" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
	exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
mkdir -p "$dir"
chmod 777 "$dir"
if [ ! -x "$tools/rekor-server" ] || [ ! -x "$tools/trillian_log_server" ] || [ ! -x "$tools/trillian_log_signer" ]; then
	echo "building trillian v1.7.3 and rekor-server v1.5.4 into $tools (several minutes, once)" >&2
	GOBIN=$tools go install github.com/google/trillian/cmd/trillian_log_server@v1.7.3 github.com/google/trillian/cmd/trillian_log_signer@v1.7.3
	GOBIN=$tools go install github.com/sigstore/rekor/cmd/rekor-server@v1.5.4
fi
schema=$(go env GOMODCACHE)/github.com/google/trillian@v1.7.3/storage/postgresql/schema/storage.sql
[ -f "$schema" ] || GOFLAGS=-mod=mod go mod download github.com/google/trillian@v1.7.3
runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg" -A trust -U postgres >"$dir/initdb.log" 2>&1
runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -o "-k $dir -p 5433 -c listen_addresses=''" -w start >/dev/null
psql -h "$dir" -p 5433 -U postgres -q -c 'CREATE DATABASE trillian' >/dev/null
psql -h "$dir" -p 5433 -U postgres -q -d trillian -f "$schema" >/dev/null
uri="postgresql:///trillian?host=$dir&port=5433&user=postgres"
"$tools/trillian_log_server" --storage_system=postgresql --quota_system=postgresql --postgresql_uri="$uri" \
	--rpc_endpoint=127.0.0.1:8090 --http_endpoint=127.0.0.1:8091 >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"
"$tools/trillian_log_signer" --storage_system=postgresql --quota_system=postgresql --postgresql_uri="$uri" \
	--rpc_endpoint=127.0.0.1:8092 --http_endpoint=127.0.0.1:8093 --force_master --sequencer_interval=100ms --batch_size=100 >"$dir/signer.log" 2>&1 &
echo $! >"$dir/signer.pid"
sleep 1
"$tools/rekor-server" serve --trillian_log_server.address=127.0.0.1 --trillian_log_server.port=8090 \
	--rekor_server.address=127.0.0.1 --port="$port" --rekor_server.signer=memory --enable_retrieve_api=false \
	--enabled_api_endpoints=getLogInfo,getPublicKey,getLogProof,createLogEntry,getLogEntryByIndex,getLogEntryByUUID >"$dir/rekor.log" 2>&1 &
echo $! >"$dir/rekor.pid"
i=0
until curl -sf "http://127.0.0.1:$port/api/v1/log" >/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "rekor did not start; see $dir/rekor.log" >&2; exit 1; }
	sleep 0.2
done
echo "rekor on http://127.0.0.1:$port"
