require('./run.js')('pre');
