from batchspec.entry import main

main()
