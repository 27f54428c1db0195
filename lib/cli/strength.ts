/**
 * How hard a new master password is to guess, by zxcvbn-ts (a well-kept port of Dropbox's
 * zxcvbn: dictionaries of common passwords, names and words, keyboard patterns, dates): a score
 * from 0 to 4 and its advice. The master password guards everything, and Argon2id only slows
 * each guess: a password in the first ten thousand guesses falls in seconds whatever the cost.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core'
import * as common from '@zxcvbn-ts/language-common'
import * as en from '@zxcvbn-ts/language-en'

/** Below this score a new master password is refused unless the user insists (--force). */
export const MIN_SCORE = 2

const WORDS = ['too guessable', 'very guessable', 'somewhat guessable', 'safely unguessable', 'very unguessable'] as const

let estimator: ZxcvbnFactory | undefined

export interface Strength {
  score: 0 | 1 | 2 | 3 | 4
  /** One line for people: the score in words, the warning and the advice. */
  summary: string
}

/** `userInputs`: words an attacker would try first (the user name, the host name). */
export function passwordStrength(password: string, userInputs: string[] = []): Strength {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  })
  const r = estimator.check(password, userInputs)
  const advice = [r.feedback.warning, ...r.feedback.suggestions].filter(Boolean).join(' ')
  return {
    score: r.score,
    summary: `${r.score}/4, ${WORDS[r.score]}${advice ? `. ${advice}` : ''}`,
  }
}
