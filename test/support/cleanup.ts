// vitest setup file: every temporary directory made with tempDir() (makeStateDir() included) is removed
// when the test file ends.
import {afterAll} from 'vitest'

import {removeTempDirs} from './temp.js'

afterAll(() => removeTempDirs())
