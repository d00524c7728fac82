from frugalml.cli.main import main

main()
