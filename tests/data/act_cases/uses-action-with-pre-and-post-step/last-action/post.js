const seen = ['PRE', 'MAIN', 'POST'].map((s) => process.env[`ACTION_OUTPUT_${s}`]).join('/');
console.log(seen);
if (seen !== 'pre/main/post') process.exit(1);
