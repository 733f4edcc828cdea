from admincli.app import main

main()
