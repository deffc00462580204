const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', process.env.INPUT_SCRIPT)(require).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
