from tocsin.cli.main import main

raise SystemExit(main())
