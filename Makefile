# linky: MicroPython firmware for the ESP32 that reads a Linky TIC and publishes it to MQTT.
#
#   make sim     run the firmware on this PC (MicroPython unix port), fed by a TIC capture
#   make test    every test: ruff, pyright (ESP32 HAL), pytest on CPython and on the unix port
#   make check   the same without the slow (real-time) tests: the edit-test loop, under 30 s
#   make build   compile the device image into build/device/ (.mpy made by mpy-cross), and
#                the same modules into build/frozen/ for the linky image
#   make deploy PORT=/dev/ttyUSB0                         copy build/device/ to a board
#   make flash  PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-OTA-v1.27.0.bin   write MicroPython
#   make image  MPY_DIR=path/to/micropython   the linky image: MicroPython 1.27 ESP32_GENERIC
#                (OTA) with lib/ and firmware/ frozen in; needs an ESP-IDF v5.5.1 shell
#   make deploy-image PORT=/dev/ttyUSB0   deploy to a board running the linky image: no .mpy
#   make bench   parser speed, and memory on a 32-bit MicroPython 1.27
#   make bench-frozen MPY_DIR=path/to/micropython   the memory tables with the firmware frozen
#                in, as in the linky image (docs/design/frozen-image.md)
#   make mqtt-bench  MQTT latency (ETX to subscriber) and bytes per hour, ~7 min
#   make fuzz    10^6 mutated TIC inputs through the parser (not part of make test)
#
# Both `make sim` and `make test` create or refresh .venv from the pinned requirements and
# install the Debian packages the tests need (as root; otherwise they print the command).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := mosquitto mosquitto-clients openssl chromium
PORT ?= /dev/ttyUSB0
SIM_ARGS ?=
PYTEST_ARGS ?=
# make image: a MicroPython v1.27.0 checkout (with lib/micropython-lib), and where the port's
# build goes (its own folder: the port's CMake cache keeps FROZEN_MANIFEST).
MPY_DIR ?=
IMAGE_BUILD ?= $(CURDIR)/build/image

.PHONY: all venv deps build test check lint typecheck pytest sim bench bench-frozen mqtt-bench fuzz labels deploy deploy-image flash image clean

all: build

# The venv is rebuilt when a requirements file changes; the stamp records that it completed.
$(VENV)/.stamp: requirements-dev.txt requirements-stubs.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	rm -rf typings
	$(BIN)/pip install -q --disable-pip-version-check --no-user --target typings -r requirements-stubs.txt
	touch $@

venv: $(VENV)/.stamp

deps:
	sh tools/ensure_deps.sh $(DEB_PACKAGES)
	@# Node and npm run the 32-bit MicroPython harness (tools/mem32); a machine whose Node
	@# comes from elsewhere (with its own npm) keeps it: Debian's npm would conflict.
	command -v node >/dev/null && command -v npm >/dev/null || sh tools/ensure_deps.sh nodejs npm

build: venv
	$(BIN)/python tools/build.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/pyright -p pyrightconfig.json

pytest: venv deps build
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: venv deps lint typecheck pytest

# The edit-test loop, under 30 s on two cores. pyright runs only when something it reads
# changed since it last passed (its config, the venv and its stubs, the root's, firmware/'s and
# lib/'s modules, a file added or removed there): build/.typecheck-ok marks a pass, and
# `make typecheck` and `make test` always run it. Four workers on two cores: the quick tests
# spend about a third of their time waiting (sockets, the broker, timers). Tests' bytecode is
# cached even where PYTHONDONTWRITEBYTECODE is set: rewriting every test module's asserts
# again costs each worker about 4 s.
check: venv deps lint build
	@if [ -e build/.typecheck-ok ] && [ -z "$$(find pyrightconfig.json $(VENV)/.stamp typings \
	    *.py firmware lib \( -name pyrightconfig.json -o -name .stamp -o -name '*.py' \
	    -o -name '*.pyi' -o -type d ! -name __pycache__ \) -newer build/.typecheck-ok \
	    -print -quit)" ]; then \
		echo "pyright: nothing it reads changed since it last passed (make typecheck runs it)"; \
	else \
		echo "$(BIN)/pyright -p pyrightconfig.json"; \
		mkdir -p build && touch build/.typecheck-run && \
		$(BIN)/pyright -p pyrightconfig.json && mv build/.typecheck-run build/.typecheck-ok; \
	fi
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -m "not slow" -n 4 --dist worksteal $(PYTEST_ARGS)

sim: venv deps build
	$(BIN)/python tools/sim.py $(SIM_ARGS)

bench: venv deps build
	sh tools/ensure_deps.sh valgrind
	$(BIN)/python tools/bench.py
	$(BIN)/python tools/mem32_ota.py --firmware

# The 32-bit memory tables on MicroPython 1.27's WebAssembly port built with the firmware frozen
# in (tools/frozen_wasm.py; Debian's emscripten, installed when missing): what a board holds
# with the linky image. MPY_DIR: a v1.27.0 checkout with its lib/micropython-lib submodule.
bench-frozen: venv deps build
	@test -n "$(MPY_DIR)" || { echo "usage: make bench-frozen MPY_DIR=path/to/micropython (v1.27.0, with lib/micropython-lib)"; exit 2; }
	$(BIN)/python tools/frozen_wasm.py --mpy-dir $(MPY_DIR)
	$(BIN)/python tools/mem32.py --mqtt --web --mjs build/frozen-wasm/micropython.mjs

mqtt-bench: venv deps build
	$(BIN)/python tools/mqtt_bench.py

labels: venv
	PYTHONPATH=lib $(BIN)/python -m tic.label_table

fuzz: venv
	$(BIN)/python tools/fuzz.py

deploy: build
	$(BIN)/python tools/deploy.py --port $(PORT)

# With the linky image on the board the modules are in flash: a .mpy file on the board would
# be imported instead of the frozen module (and put its code back in the heap).
deploy-image: build
	$(BIN)/python tools/deploy.py --port $(PORT) --image

flash: venv
	@test -n "$(FIRMWARE)" || { echo "usage: make flash PORT=/dev/ttyUSB0 FIRMWARE=path/to/ESP32_GENERIC-OTA-*.bin"; exit 2; }
	$(BIN)/esptool --chip esp32 --port $(PORT) erase-flash
	$(BIN)/esptool --chip esp32 --port $(PORT) --baud 460800 write-flash -z 0x1000 $(FIRMWARE)

# The linky image: MicroPython's ESP32 port (ESP32_GENERIC, OTA variant) built from MPY_DIR
# with build/frozen/manifest.py (what the firmware uses of the board's own frozen modules,
# then lib/ and firmware/: tools/build.py BOARD_PART).
# The checks come first and need nothing built: without MPY_DIR or ESP-IDF it only explains.
IMAGE_USAGE = echo "usage: make image MPY_DIR=path/to/micropython, in an ESP-IDF shell"; \
  echo "  MPY_DIR   a MicroPython v1.27.0 checkout with its lib/micropython-lib submodule:"; \
  echo "            git clone -b v1.27.0 https://github.com/micropython/micropython"; \
  echo "            make -C micropython/ports/esp32 submodules   (in the ESP-IDF shell)"; \
  echo "  ESP-IDF   v5.5.1 (what ports/esp32/README.md of MicroPython v1.27.0 names):"; \
  echo "            IDF_PATH set and idf.py on PATH: . path/to/esp-idf/export.sh"; \
  echo "  writes    $(IMAGE_BUILD)/firmware.bin, for make flash FIRMWARE=..."

image:
	@test -n "$(MPY_DIR)" && test -n "$$IDF_PATH" || { $(IMAGE_USAGE); exit 2; }
	@test -f "$(MPY_DIR)/ports/esp32/Makefile" && test -f "$(MPY_DIR)/py/mpconfig.h" || { \
	    echo "image: MPY_DIR=$(MPY_DIR) is not a MicroPython checkout (no ports/esp32/Makefile)"; \
	    $(IMAGE_USAGE); exit 2; }
	@test -f "$(MPY_DIR)/lib/micropython-lib/README.md" || { \
	    echo "image: $(MPY_DIR)/lib/micropython-lib is empty: run" \
	        "make -C $(MPY_DIR)/ports/esp32 submodules (in the ESP-IDF shell)"; exit 2; }
	@command -v idf.py >/dev/null || { \
	    echo "image: idf.py is not on PATH: run . $$IDF_PATH/export.sh first"; exit 2; }
	@v=$$(sed -n 's/^#define MICROPY_VERSION_M[A-Z]* \([0-9]*\)$$/\1/p' \
	    "$(MPY_DIR)/py/mpconfig.h" | paste -sd. -); \
	    echo "image: MicroPython $$v from $(MPY_DIR) (1.27.0 expected)," \
	        "$$(idf.py --version) (v5.5.1 expected)"
	$(MAKE) build
	$(MAKE) -C "$(MPY_DIR)/mpy-cross"
	$(MAKE) -C "$(MPY_DIR)/ports/esp32" BOARD=ESP32_GENERIC BOARD_VARIANT=OTA \
	    FROZEN_MANIFEST="$(CURDIR)/build/frozen/manifest.py" BUILD="$(IMAGE_BUILD)"
	@echo "image: $(IMAGE_BUILD)/firmware.bin (make flash FIRMWARE=$(IMAGE_BUILD)/firmware.bin," \
	    "then make deploy-image); its app alone, for an update's --firmware:" \
	    "$(IMAGE_BUILD)/micropython.bin"

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
