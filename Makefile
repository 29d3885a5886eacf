# make test installs what the tests need (Debian packages, as root or through
# sudo), then vets and tests everything under the race detector.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO ?= go
REKOR_TOOLS ?= $(HOME)/.cache/keyceremony-tools/bin
BIND_ROOT := $(CURDIR)/.tools/bind
DEBIAN_MIRROR ?= http://deb.debian.org/debian
# BIND 9.20 from bookworm-backports, and the libraries it needs from bookworm.
BIND_DEBS := bind9/bookworm-backports bind9-utils/bookworm-backports bind9-libs/bookworm-backports bind9-dnsutils/bookworm-backports \
	libfstrm0 libjemalloc2 libjson-c5 liblmdb0 libmaxminddb0 libnghttp2-14 libprotobuf-c1 liburcu8 libuv1 libxml2 libedit2 libidn2-0 libcap2

.PHONY: test deps vet bench fuzz

test: deps vet
	$(GO) test -race -timeout 20m ./...
	@# Every parser's fuzz target, for a few seconds each, on top of its
	@# seed corpus (the inputs the fuzzer finds interesting stay in Go's
	@# fuzz cache for the next run).
	$(MAKE) --no-print-directory fuzz FUZZTIME=3s

vet:
	$(GO) vet ./...

# softhsm2: the PKCS#11 token the HSM tests run against; knot: its keymgr
# makes the Knot DNS KSRs keyceremony signs and imports the SKRs back;
# chromium: the headless browser the web page is tested in; ffmpeg: the
# recordings of the stream the checkpoints are read back from (and
# checkpoints from-video's decoder); zbar-tools: zbarimg, a second QR
# reader the console's codes are checked with.
deps:
	@{ command -v softhsm2-util && command -v keymgr && command -v chromium && command -v ssh-agent && command -v psql && ls /usr/lib/postgresql/*/bin/initdb && command -v strace && command -v ffmpeg && command -v zbarimg; } >/dev/null 2>&1 || { \
		echo "installing softhsm2, knot, chromium, openssh-client, postgresql, strace, ffmpeg and zbar-tools (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq softhsm2 knot chromium openssh-client postgresql strace ffmpeg zbar-tools; }
	@# trillian and rekor-server: a real Rekor v1 on loopback for the anchoring
	@# tests, built once per machine (several minutes) outside the repository.
	@[ -x $(REKOR_TOOLS)/rekor-server ] && [ -x $(REKOR_TOOLS)/trillian_log_server ] && [ -x $(REKOR_TOOLS)/trillian_log_signer ] || { \
		echo "building trillian v1.7.3 and rekor-server v1.5.4 in $(REKOR_TOOLS) (once)"; \
		GOBIN=$(REKOR_TOOLS) $(GO) install github.com/google/trillian/cmd/trillian_log_server@v1.7.3 github.com/google/trillian/cmd/trillian_log_signer@v1.7.3 && \
		GOBIN=$(REKOR_TOOLS) $(GO) install github.com/sigstore/rekor/cmd/rekor-server@v1.5.4; }
	@# litewitness and witnessctl: a real C2SP tlog witness for the witness tests.
	@[ -x .tools/bin/litewitness ] && [ -x .tools/bin/witnessctl ] || { \
		echo "installing litewitness and witnessctl (filippo.io/torchwood v0.6.1) in .tools/bin"; \
		GOBIN=$(CURDIR)/.tools/bin $(GO) install filippo.io/torchwood/cmd/litewitness@v0.6.1 filippo.io/torchwood/cmd/witnessctl@v0.6.1; }

	@# BIND 9.20 (dnssec-ksr, named, delv): not in bookworm, so from Debian's
	@# bookworm-backports, downloaded with a private sources list and
	@# unpacked into .tools/bind; the machine's apt configuration is not
	@# touched. Its tests run the binaries with LD_LIBRARY_PATH into it.
	@[ -x $(BIND_ROOT)/usr/bin/dnssec-ksr ] && [ -x $(BIND_ROOT)/usr/sbin/named ] && [ -x $(BIND_ROOT)/usr/bin/delv ] || { \
		echo "installing BIND 9.20 from bookworm-backports in .tools/bind"; \
		set -e; apt=$(CURDIR)/.tools/bind-apt; rm -rf $$apt $(BIND_ROOT); mkdir -p $$apt/lists/partial $$apt/cache/archives/partial $$apt/debs; \
		printf '%s\n' "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(DEBIAN_MIRROR) bookworm main" \
			"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(DEBIAN_MIRROR) bookworm-backports main" > $$apt/sources.list; \
		opts="-o Dir::Etc::SourceList=$$apt/sources.list -o Dir::Etc::SourceParts=- -o Dir::State::Lists=$$apt/lists -o Dir::Cache=$$apt/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=$$(id -un)"; \
		apt-get $$opts update -qq; \
		cd $$apt/debs && apt-get $$opts download -qq $(BIND_DEBS); \
		for d in $$apt/debs/*.deb; do dpkg-deb -x $$d $(BIND_ROOT); done; \
		LD_LIBRARY_PATH=$(BIND_ROOT)/usr/lib/x86_64-linux-gnu:$(BIND_ROOT)/usr/lib/x86_64-linux-gnu/bind $(BIND_ROOT)/usr/sbin/named -v; }

bench:
	$(GO) test -run '^$$' -bench . -benchtime 30x -count 5 -cpu 1,2 ./transparency/
	$(GO) test -run '^$$' -bench 'CheckAndSign|2018' -benchtime 20x -count 3 ./dnssec/
	$(GO) test -run '^$$' -bench SoftToken -benchtime 20x -count 3 ./ceremony/session/
	$(GO) test -run '^$$' -bench DemoAuto -benchtime 3x -count 3 ./ceremony/session/
	$(GO) test -run '^$$' -bench DriverDo -benchtime 2000x -count 5 ./ceremony/session/
	$(GO) test -run '^$$' -bench 'BenchmarkParse$$' -count 5 ./ceremony/event/
	$(GO) test -run '^$$' -bench . -benchtime 50x -count 5 ./ui/
	$(GO) test -run '^$$' -bench ServeLoad -benchtime 1x -count 3 ./transparency/publish/
	$(GO) test -run '^$$' -bench KSRSignVsKeymgr -benchtime 20x -count 5 ./internal/cli/

# Each fuzz target runs for FUZZTIME. A new input is minimised for at most a
# second: the default minute per input, on KSRs and scripts of kilobytes,
# left the fuzzers minimising instead of fuzzing. Go 1.26's fuzz coordinator
# can end a run with "context deadline exceeded" when its time is up while a
# worker is mid-input (golang/go#75804, fixed in Go 1.27): a run that ends so
# and wrote no failing input found nothing, and passes; any other failure,
# and any failing input, fails.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./ceremony/event/:FuzzParseEntry ./transparency/:FuzzParseCheckpoint ./transparency/:FuzzWitnessPolicy \
	./dnssec/:FuzzParse ./dnssec/:FuzzParseText ./dnssec/:FuzzLoadPolicy ./ceremony/:FuzzLoadScript ./ceremony/:FuzzLoadProfile \
	./hsm/quorum/:FuzzParseCard ./hsm/quorum/:FuzzRoster ./internal/safetext/:FuzzPrintable ./internal/safetext/:FuzzMarkdown \
	./transparency/camera/:FuzzParsePart
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s -parallel 1 $$pkg >/tmp/keyceremony-fuzz.log 2>&1 || \
		if grep -q '^    context deadline exceeded$$' /tmp/keyceremony-fuzz.log && ! grep -q 'Failing input written' /tmp/keyceremony-fuzz.log; then \
			echo "  time ran out mid-input (golang/go#75804); no failing input"; \
		else cat /tmp/keyceremony-fuzz.log; exit 1; fi; \
		grep 'execs:' /tmp/keyceremony-fuzz.log | tail -n 1; done
