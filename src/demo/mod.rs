//! Demo content (`studium seed-demo`): subjects, topics, lessons, quizzes and achievements,
//! read from the data files in `src/demo/data/`.
