from handshaker.cli import main

raise SystemExit(main())
