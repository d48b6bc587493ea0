# The two commands of the README, and the pieces they are made of.
.PHONY: demo test bootstrap bootstrap-test sanity lint unit integration molecule bench demo-stop demo-clean

demo: bootstrap
	scripts/demo.sh

test: bootstrap-test
	scripts/run_tests.sh

bootstrap:
	scripts/bootstrap.sh demo

bootstrap-test:
	scripts/bootstrap.sh test

sanity: bootstrap-test
	scripts/sanity.sh

lint: bootstrap-test
	STAGES=lint scripts/run_tests.sh

unit: bootstrap-test
	.venv/bin/python -m pytest tests/unit

integration: bootstrap-test
	.venv/bin/python -m pytest tests/sandbox tests/integration

molecule: bootstrap-test
	STAGES=molecule scripts/run_tests.sh

bench: bootstrap-test
	bench/bootstrap.sh
	.venv/bin/python bench/run_all.py

demo-stop:
	scripts/local_services.sh stop

demo-clean: demo-stop
	rm -rf .demo
