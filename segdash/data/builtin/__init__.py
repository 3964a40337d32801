"""Built-in datasets prepared from files that registry packages ship; each module registers one."""
