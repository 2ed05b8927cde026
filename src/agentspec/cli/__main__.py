from agentspec.cli.app import main

main()
