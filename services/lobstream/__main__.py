from lobstream.cli import main

raise SystemExit(main())
