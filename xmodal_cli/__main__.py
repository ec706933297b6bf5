from xmodal_cli.cli import main

main()
