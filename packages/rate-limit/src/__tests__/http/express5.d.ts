/** Express 5, installed under the alias `express5` next to Express 4; typed by `@types/express` (5). */
declare module 'express5' {
  import express = require('express');
  export = express;
}
