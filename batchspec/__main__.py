from batchspec.cli import main

main(prog_name="batchspec")
