if (!process.version.startsWith('v')) process.exit(1);
