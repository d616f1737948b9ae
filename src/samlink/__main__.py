from samlink.cli import main

main()
