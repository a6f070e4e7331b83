# Immortal CPython: the one entry point. The work is done by the scripts in
# Tools/immortal/; this file names the jobs. See README.md and CONTRIBUTING.md.
#
#   make                  build the fork           -> build/immortal/python
#   make stock            build 3.11.2 with Debian's security series, as the fork
#                         carries it (same flags)  -> build/stock/python
#   make pristine         the 3.11.2 tarball alone -> build/pristine/python
#   make repin            move the security level to the Debian revision apt
#                         offers now: upstream.lock + patches/security-series
#                         (Doc/immortal/security.md)
#   make debug            --with-pydebug builds    -> build/immortal-debug/python
#   make servers          both as libpython3.11.so -> build/prefix/{immortal,stock}/
#   make serverbench      Django under uWSGI and gunicorn, stock vs fork: memory, req/s
#   make realapp          a real site (Wagtail 7.0 from PyPI) the same way, 3 configurations
#   make asgibench        FastAPI (pydantic) and Django ASGI under gunicorn with
#                         uvicorn workers, stock / stock+freeze / fork: memory, req/s
#   make celerybench      Celery prefork (from PyPI, Redis on loopback): per-child memory, tasks/s
#   make stock-debug                               -> build/stock-debug/python
#   make opt              both twins with PGO + LTO -> build/{immortal,stock}-opt/python
#                         (--enable-optimizations --with-lto; ~20 min each here)
#   make test             build, then the whole regression suite + our tests
#   make test TESTS="test_sys test_immortal_version"   just those modules
#   make install PREFIX=/opt/immortal               python3, python3.11, ...
#   make deb              a Debian package under /opt/immortal-cpython, beside the
#                         system's python3 -> build/deb/immortal-cpython_*.deb
#   make demo             the main job: the pre-fork memory demo (the
#                         copy-on-write probe), stock twin vs fork
#   make probe PROBEOPTS="--heap-mb 300 --workers 8"   the same, with options
#   make corpus           PyPI's binary wheels on both twins; serializers'
#                         private memory in a worker (Doc/immortal/wheels.md)
#   make bench [PYPERFORMANCE=dir PYPERF=dir]   instruction counts (callgrind),
#                         our workloads and, given the checkouts, pyperformance's
#   make pyperformance [PYPERFORMANCE_OPTS="--rounds 2 -- --fast"]   the real
#                         pyperformance runner (pinned, from PyPI) on both twins
#   make bench-wall [WALLOPTS=...]   wall time: the whole default set, 3
#                         interleaved rounds, --fast (= make pyperformance with those)
#   make worker-speed [WORKEROPTS="--callgrind"]   the demo's workers after
#                         immortalize_heap(): ms and instructions per request, USS,
#                         frozen code vs specialize=True vs warm_up()
#   make devtree          a git repo of upstream + our changes, to edit (dev/)
#   make export           write dev/ back into patches/ and the overlay
#   make clean            remove build/ (not the download cache, not dev/)
#
# Options (sticky: remembered in build/options until given again; both the
# fork and stock always get the same ones):
#   PREFIX=/usr/local  SHARED=0|1 (--enable-shared)  CONFIGURE_FLAGS="..."
#   JOBS=N (default: number of CPUs)
# Environment: IMMORTAL_CACHE_DIR (upstream tarball cache, default
# ~/.cache/immortal-cpython).

TOOLS := Tools/immortal
PYTHON := build/immortal/python
KNOWN := $(TOOLS)/known-stock-failures.txt
TESTS ?=
TESTOPTS ?=

# Pass only the options given on the command line or in the environment, so
# the saved ones stay in force otherwise.
BUILD_ENV := $(foreach v,PREFIX SHARED CONFIGURE_FLAGS JOBS,\
	$(if $(filter command line environment,$(origin $(v))),$(v)='$($(v))'))

.PHONY: all immortal stock pristine repin debug stock-debug immortal-debug test test-debug \
	immortal-shared stock-shared immortal-asan immortal-m32 sanitize m32 randomheaps longrun servers serverbench asgibench realapp celerybench opt immortal-opt stock-opt \
	install deb demo probe corpus bench bench-wall pyperformance worker-speed \
	devtree export clean deps

all: immortal

immortal stock pristine immortal-debug stock-debug immortal-shared stock-shared \
immortal-opt stock-opt immortal-asan immortal-m32:
	@$(BUILD_ENV) $(TOOLS)/build.sh $@

# Both twins optimized as distributions build them (Debian's python3.11 is
# PGO + LTO): `make bench BENCHOPTS="--stock build/stock-opt/python --fork
# build/immortal-opt/python"` compares them (Doc/immortal/benchmarks.md).
opt: immortal-opt stock-opt

# Both twins as libpython3.11.so, installed in build/prefix/{immortal,stock}:
# what pre-fork servers embed (Doc/immortal/servers.md).
servers: immortal-shared stock-shared

debug: immortal-debug

# The stock twin's headers build Lib/test/immortal_oldabi.c, an extension
# that knows nothing of immortality (test_immortal_oldabi).
# build/prefix/immortal (make servers): the fork as a shared library, for
# the tests that run it under uWSGI and gunicorn (test_immortal_prefork).
# make deb: the package test_immortal_install installs and removes.
test: immortal stock immortal-shared deb
	IMMORTAL_STOCK_PYTHON=$(CURDIR)/build/stock/python \
	IMMORTAL_SERVER_PREFIX=$(CURDIR)/build/prefix/immortal \
	IMMORTAL_DEB_DIR=$(CURDIR)/build/deb \
	IMMORTAL_SERVERS_DIR=$(CURDIR)/$(TOOLS)/servers \
	IMMORTAL_CORPUS_DIR=$(CURDIR)/$(TOOLS)/corpus \
	$(PYTHON) $(TOOLS)/run_tests.py --known $(KNOWN) \
		--shell-test $(TOOLS)/tests/test_tree_tools.sh $(TESTOPTS) $(TESTS)

test-debug: immortal-debug stock immortal-shared
	IMMORTAL_STOCK_PYTHON=$(CURDIR)/build/stock/python \
	IMMORTAL_SERVER_PREFIX=$(CURDIR)/build/prefix/immortal \
	IMMORTAL_SERVERS_DIR=$(CURDIR)/$(TOOLS)/servers \
	IMMORTAL_CORPUS_DIR=$(CURDIR)/$(TOOLS)/corpus \
	build/immortal-debug/python $(TOOLS)/run_tests.py --known $(KNOWN) $(TESTOPTS) $(TESTS)

# Reliability targets (Doc/immortal/reliability.md). make sanitize: the fork
# under AddressSanitizer + UBSan, our tests and test_gc test_dict test_sys
# test_weakref test_tuple test_unicode test_capi, then LeakSanitizer on
# Py_Initialize()/Py_Finalize() cycles (TESTS="..." picks other tests).
# make m32: a 32-bit build and the refcount-representation tests on it.
# make randomheaps: test_immortal_randomheaps with EXAMPLES=N (2000).
# make longrun: gunicorn workers replaced REQUESTS=N times (5000).
sanitize: immortal-asan
	$(TOOLS)/reliability/sanitize.sh $(TESTS)

m32: immortal-m32
	$(TOOLS)/reliability/m32.sh $(TESTS)

# gunicorn workers replaced after every request, REQUESTS=N times (5000),
# with the master's memory measured (test_immortal_workers).
longrun: immortal immortal-shared
	IMMORTAL_LONGRUN_REQUESTS=$(or $(REQUESTS),5000) \
	IMMORTAL_SERVER_PREFIX=$(CURDIR)/build/prefix/immortal \
	build/immortal/python -m test -v test_immortal_workers \
		-m test_workers_replaced_after_each_request

# More randomized heaps than make test tries (EXAMPLES=N, default 2000).
randomheaps: immortal immortal-shared
	IMMORTAL_RANDOMHEAP_EXAMPLES=$(or $(EXAMPLES),2000) \
	IMMORTAL_SERVER_PREFIX=$(CURDIR)/build/prefix/immortal \
	IMMORTAL_SERVERS_DIR=$(CURDIR)/$(TOOLS)/servers \
	build/immortal/python -m test -v test_immortal_randomheaps

install: immortal
	$(MAKE) -C build/immortal install

deb:
	@$(TOOLS)/deb.sh

repin:
	@$(TOOLS)/repin.sh

PROBEOPTS ?=

demo probe: immortal stock
	@$(TOOLS)/demo.sh $(PROBEOPTS)

PYPERFORMANCE ?=
PYPERF ?=
PYPERF_ARGS = $(if $(PYPERFORMANCE),--pyperformance $(PYPERFORMANCE)) \
	$(if $(PYPERF),--pyperf $(PYPERF))

# ASGI: gunicorn with 4 uvicorn workers (uvloop, httptools) from PyPI, a
# FastAPI app on pydantic and the demo shop through Django's ASGI handler
# (Doc/immortal/servers.md, "ASGI").
ASGIOPTS ?=
asgibench: servers stock
	build/stock/python $(TOOLS)/servers/asgibench.py \
		--svg build/asgibench.svg --json build/asgibench.json $(ASGIOPTS)

# The server benchmark: the demo Django shop under uWSGI and gunicorn, stock
# twin vs fork, 4 workers, wrk on loopback (Doc/immortal/servers.md).
serverbench: servers stock
	build/stock/python $(TOOLS)/servers/serverbench.py \
		--svg build/serverbench.svg --json build/serverbench.json $(SERVERBENCHOPTS)

# A real application: Wagtail 7.0 on Django 4.2 under gunicorn and uWSGI,
# stock twin / stock + gc.freeze() / fork (Doc/immortal/servers.md); the
# first run needs PyPI.
REALAPPOPTS ?=
realapp: servers stock
	build/stock/python $(TOOLS)/servers/realapp.py \
		--svg build/realapp.svg --json build/realapp.json $(REALAPPOPTS)

CELERYOPTS ?=
celerybench: servers stock
	build/stock/python $(TOOLS)/servers/celerybench.py \
		--json build/celerybench.json --svg build/celerybench.svg $(CELERYOPTS)

# The PyPI wheel corpus on both twins, and the serializers' private memory
# in a worker (Doc/immortal/wheels.md); test_immortal_wheels runs the first
# part in `make test`.
CORPUSOPTS ?=
corpus: immortal stock
	build/stock/python $(TOOLS)/corpus/run.py \
		--python fork=build/immortal/python --python stock=build/stock/python \
		--serializers --rebuild fork --markdown build/corpus/table.md \
		--json build/corpus/results.json $(CORPUSOPTS)

bench: immortal stock
	build/stock/python $(TOOLS)/bench/callgrind.py $(PYPERF_ARGS) $(BENCHOPTS)

PYPERFORMANCE_OPTS ?=
pyperformance: immortal stock
	build/stock/python $(TOOLS)/bench/pyperformance.py $(PYPERFORMANCE_OPTS)

WALLOPTS ?= --rounds 3 -- --fast
bench-wall: immortal stock
	build/stock/python $(TOOLS)/bench/pyperformance.py $(WALLOPTS)

WORKEROPTS ?=
worker-speed: immortal stock
	build/stock/python $(TOOLS)/bench/worker_speed.py $(WORKEROPTS)

devtree:
	@$(TOOLS)/devtree.sh

export:
	@$(TOOLS)/export.sh

deps:
	@$(TOOLS)/deps.sh

clean:
	rm -rf build
