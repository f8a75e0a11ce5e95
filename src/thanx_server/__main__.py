from thanx_server.cli.main import main

main()
