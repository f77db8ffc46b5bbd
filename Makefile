# Two commands for a newcomer: `make run` (set up and start the bot), `make test` (set up and test).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@test -f .env || { cp .env.example .env; echo "Created .env from .env.example: put your bot token (from @BotFather) in TELEGRAM_BOT_TOKEN"; }
	$(VENV)/bin/python -m bot

test: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/mypy bot
	$(VENV)/bin/python -m pytest -n 4

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
