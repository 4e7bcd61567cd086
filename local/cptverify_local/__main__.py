from cptverify_local.cli import main

raise SystemExit(main())
