from segmint.cli import main

main()
