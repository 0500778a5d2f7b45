from hatoba.cli.main import main

raise SystemExit(main())
