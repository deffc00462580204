// INPUT_CACHE must be this action's boolean default, or what the step gave: true or false.
module.exports = () => {
  const cache = process.env.INPUT_CACHE;
  if (cache !== 'true' && cache !== 'false') {
    console.log(`expected a boolean for the cache input, got ${cache}`);
    process.exit(1);
  }
};
