from edge_app.cli.main import main

raise SystemExit(main())
