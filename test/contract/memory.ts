import t from 'tap'
import { memory } from '../../providers/memory.js'
import { providerContract } from './suite.js'

providerContract(t, async () => memory())
