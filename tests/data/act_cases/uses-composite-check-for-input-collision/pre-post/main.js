require('./check.js')();
