from fallback.smsc.simulator import main

main()
