console.log(`dispatching ${process.env.INPUT_COMMANDS}`);
